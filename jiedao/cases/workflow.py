"""The case state machine (domain.md §3), written out as data.

``STEPS[action]`` says from which states an action may be taken and where it leads
(``None``: the state does not change). Services consult it; tests walk every pair of
(action, state) against it, so a change here is a change of policy, visible in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import Action, Status

ANY_LIVE = (Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RESOLVED)
ANY = (*ANY_LIVE, Status.CLOSED, Status.MERGED)


@dataclass(frozen=True)
class Step:
    sources: tuple[str, ...]
    target: str | None  # None: stays where it is


STEPS: dict[str, Step] = {
    Action.DISPATCH: Step((Status.RECEIVED,), Status.DISPATCHED),
    Action.REDISPATCH: Step((Status.DISPATCHED, Status.IN_PROGRESS), Status.DISPATCHED),
    Action.ACCEPT: Step((Status.DISPATCHED,), Status.IN_PROGRESS),
    Action.CLAIM: Step((Status.RECEIVED,), Status.IN_PROGRESS),
    Action.RETURN: Step((Status.DISPATCHED, Status.IN_PROGRESS), Status.RECEIVED),
    Action.MERGE: Step((Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS), Status.MERGED),
    Action.NOTE: Step(ANY, None),
    Action.ATTACH: Step(ANY_LIVE, None),
    Action.EXTEND_REQUEST: Step((Status.DISPATCHED, Status.IN_PROGRESS), None),
    Action.EXTEND_APPROVE: Step((Status.DISPATCHED, Status.IN_PROGRESS), None),
    Action.EXTEND_REJECT: Step((Status.DISPATCHED, Status.IN_PROGRESS), None),
    Action.RESOLVE: Step((Status.IN_PROGRESS,), Status.RESOLVED),
    # A satisfied review archives the case; an unsatisfied one sends it back (重办).
    Action.REVIEW: Step((Status.RESOLVED,), None),
    Action.REOPEN: Step((Status.RESOLVED, Status.CLOSED), Status.IN_PROGRESS),
    Action.CLOSE: Step((Status.RESOLVED,), Status.CLOSED),
    Action.SUPERVISE: Step((Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RESOLVED), None),
    Action.ASSIGN_OWNER: Step(ANY_LIVE, None),
}


def allowed(action: str, status: str) -> bool:
    return status in STEPS[action].sources


def actions_from(status: str) -> list[str]:
    return [action for action, step in STEPS.items() if status in step.sources]


def open_now(action: str, deadline_at: dt.datetime, pending_extension: bool, now: dt.datetime) -> bool:
    """Beyond the state: an extension is asked for before the deadline and while none waits,
    and decided only while one waits (what the services check again)."""
    if action == Action.EXTEND_REQUEST:
        return not pending_extension and now <= deadline_at
    if action in (Action.EXTEND_APPROVE, Action.EXTEND_REJECT):
        return pending_extension
    return True
