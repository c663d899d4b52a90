"""KPIs of the case loop, computed from the timeline (``CaseEvent``), never from stored flags.

For a set of cases and a period [start, end) — the README has the same definitions:

- 响应率 (response): of the cases first dispatched in the period whose acceptance limit has
  passed or which were accepted, the share accepted (签收/认领) within the category's
  ``accept_hours`` of that first dispatch. A claim from the pool is its own dispatch and accept.
- 按期办结率 (on time): of the cases first resolved (办结) in the period, the share whose first
  resolution came no later than the case's deadline then in force (after approved extensions;
  a 重办 sets a new deadline and keeps the old one in its event's data).
- 解决率 (solved): of the resolutions in the period (a case's latest one in the period), the
  share with outcome 解决.
- 满意率 (satisfied): of the reviews (回访) in the period, the share answered "satisfied".
- 重办率 (reopened): of the cases first resolved in the period, the share sent back at least
  once afterwards (an unsatisfied review or a 重办 step).
- average hours to accept: first dispatch → first accept, for cases first accepted in the period;
  average hours to resolve: receipt → first resolution, for cases first resolved in the period.

A rate with no denominator is ``None`` (shown as "—"), not 0 or 100 %.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet
from django.utils import timezone

from .models import Action, Case, CaseEvent, Outcome

KPI_ACTIONS = (Action.DISPATCH, Action.CLAIM, Action.ACCEPT, Action.RESOLVE, Action.REVIEW, Action.REOPEN)


def rate(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _mean_hours(values: list[float]) -> Decimal | None:
    if not values:
        return None
    return (Decimal(sum(values)) / len(values) / 3600).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class KpiResult:
    dispatched: int = 0
    responded: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    resolutions: int = 0
    solved: int = 0
    reviewed: int = 0
    satisfied: int = 0
    reopened: int = 0
    accept_seconds: list[float] = field(default_factory=list, repr=False)
    resolve_seconds: list[float] = field(default_factory=list, repr=False)

    @property
    def response_rate(self) -> Decimal | None:
        return rate(self.responded, self.dispatched)

    @property
    def on_time_rate(self) -> Decimal | None:
        return rate(self.resolved_on_time, self.resolved)

    @property
    def solved_rate(self) -> Decimal | None:
        return rate(self.solved, self.resolutions)

    @property
    def satisfaction_rate(self) -> Decimal | None:
        return rate(self.satisfied, self.reviewed)

    @property
    def reopen_rate(self) -> Decimal | None:
        return rate(self.reopened, self.resolved)

    @property
    def avg_accept_hours(self) -> Decimal | None:
        return _mean_hours(self.accept_seconds)

    @property
    def avg_resolve_hours(self) -> Decimal | None:
        return _mean_hours(self.resolve_seconds)

    def as_dict(self) -> dict:
        return {
            "dispatched": self.dispatched, "responded": self.responded, "resolved": self.resolved,
            "resolved_on_time": self.resolved_on_time, "resolutions": self.resolutions,
            "solved": self.solved, "reviewed": self.reviewed, "satisfied": self.satisfied,
            "reopened": self.reopened,
            "response_rate": self.response_rate, "on_time_rate": self.on_time_rate,
            "solved_rate": self.solved_rate, "satisfaction_rate": self.satisfaction_rate,
            "reopen_rate": self.reopen_rate, "avg_accept_hours": self.avg_accept_hours,
            "avg_resolve_hours": self.avg_resolve_hours,
        }


def _in(at: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
    return start <= at < end


def _add_case(result: KpiResult, case: dict, events: list[tuple], start, end, now) -> None:
    first_dispatch = first_accept = first_resolve = None
    # The deadline the first resolution answered to: a 重办 sets a new one (``services._sent_back``)
    # and keeps the old in its data.
    first_deadline, moved = case["deadline_at"], False
    last_resolution_in_period = None
    reopened_after_first_resolve = False
    for action, at, data in events:  # in time order
        if action in (Action.DISPATCH, Action.CLAIM) and first_dispatch is None:
            first_dispatch = at
        if action in (Action.ACCEPT, Action.CLAIM) and first_accept is None:
            first_accept = at
        if action == Action.RESOLVE:
            if first_resolve is None:
                first_resolve = at
            if _in(at, start, end):
                last_resolution_in_period = data.get("outcome")
        if action == Action.REVIEW and _in(at, start, end):
            result.reviewed += 1
            result.satisfied += bool(data.get("satisfied"))
        sent_back = action == Action.REOPEN or (action == Action.REVIEW and data.get("satisfied") is False)
        if sent_back and first_resolve is not None:
            if not moved and data.get("deadline_before"):  # the first that moved the deadline
                first_deadline, moved = dt.datetime.fromisoformat(data["deadline_before"]), True
            reopened_after_first_resolve = True

    limit = dt.timedelta(hours=case["category__accept_hours"])
    if first_dispatch is not None and _in(first_dispatch, start, end):
        accepted_in_time = first_accept is not None and first_accept - first_dispatch <= limit
        decided = first_accept is not None or now > first_dispatch + limit
        if decided:
            result.dispatched += 1
            result.responded += accepted_in_time
    if first_accept is not None and first_dispatch is not None and _in(first_accept, start, end):
        result.accept_seconds.append((first_accept - first_dispatch).total_seconds())
    if first_resolve is not None and _in(first_resolve, start, end):
        result.resolved += 1
        result.resolved_on_time += first_resolve <= first_deadline
        result.reopened += reopened_after_first_resolve
        result.resolve_seconds.append((first_resolve - case["created_at"]).total_seconds())
    if last_resolution_in_period is not None:
        result.resolutions += 1
        result.solved += last_resolution_in_period == Outcome.SOLVED


def compute_grouped(queryset: QuerySet[Case], start: dt.datetime, end: dt.datetime,
                    group_by: str | None = None, now: dt.datetime | None = None) -> dict:
    """``{group value: KpiResult}`` (a single key ``None`` without ``group_by``)."""
    now = now or timezone.now()
    fields = ["id", "deadline_at", "created_at", "category__accept_hours"]
    if group_by:
        fields.append(group_by)
    # Only cases with some step in the period can count; their earlier steps are read too.
    touched = CaseEvent.objects.filter(action__in=KPI_ACTIONS, at__gte=start, at__lt=end).values("case_id")
    selected = queryset.filter(pk__in=touched)
    cases = {row["id"]: row for row in selected.values(*fields)}
    events: dict[int, list[tuple]] = defaultdict(list)
    rows = (CaseEvent.objects.filter(case_id__in=selected.values("id"), action__in=KPI_ACTIONS, at__lt=end)
            .order_by("case_id", "at", "id").values_list("case_id", "action", "at", "data"))
    for case_id, action, at, data in rows.iterator(chunk_size=5000):
        events[case_id].append((action, at, data or {}))
    results: dict = defaultdict(KpiResult)
    for case_id, case in cases.items():
        key = case.get(group_by) if group_by else None
        _add_case(results[key], case, events.get(case_id, []), start, end, now)
    return dict(results)


def compute(queryset: QuerySet[Case], start: dt.datetime, end: dt.datetime,
            now: dt.datetime | None = None) -> KpiResult:
    return compute_grouped(queryset, start, end, None, now).get(None, KpiResult())
