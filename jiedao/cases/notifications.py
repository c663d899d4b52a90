"""Who is told of which step (in-app inbox, SMS and 企业微信).

``on_event`` runs inside the step's transaction: the inbox rows and the queued outbound
messages commit or roll back with the step. Sending happens after commit (``messaging``).

- in-app: the handler, the owner (包案 leader) and a requester with an account, for the
  steps that concern each (never the person who took the step). A case given to a unit with
  no person named has as its handler everyone who works at that unit (``UNIT_ROLES``); the
  person who last dispatched the case hears that it came back (退单) or was resolved (to 回访);
- 企业微信: the same handler and owner (their account name is the 企业微信 userid);
- SMS: the requester's mobile on 受理 and 办结, with the tracking code to follow and rate it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.core import bulk
from jiedao.core.identifiers import MOBILE_RE
from jiedao.core.masking import mask_text

from . import messaging
from .models import Action, Case, CaseEvent, Notification, OutboundMessage

# Which steps concern whom.
TO_HANDLER = {Action.DISPATCH, Action.REDISPATCH, Action.SUPERVISE, Action.REOPEN,
              Action.EXTEND_APPROVE, Action.EXTEND_REJECT, Action.REVIEW}
TO_OWNER = {Action.ASSIGN_OWNER, Action.SUPERVISE, Action.RETURN, Action.EXTEND_REQUEST,
            Action.RESOLVE, Action.REVIEW}
TO_REQUESTER = {Action.CREATE, Action.ACCEPT, Action.CLAIM, Action.RESOLVE, Action.CLOSE}
TO_DISPATCHER = {Action.RETURN, Action.RESOLVE}
SMS_TO_REQUESTER = {Action.CREATE, Action.RESOLVE}
# Who stands for a handling unit when no person is named: those who work its cases.
UNIT_ROLES = (Role.LEADER, Role.STAFF, Role.COMMUNITY_WORKER, Role.GRID_WORKER)


NOTE_CHARS = 60  # of the step's note or reason, in the message


def text_for(case: Case, event: CaseEvent, *, staff: bool = True) -> str:
    """"工单 …「title」:退单(李敏:不属本科室职责)": the step, who took it and what they wrote —
    the note masked (``mask_text``): the message also goes to 企业微信. For the requester
    (``staff`` False) the step alone: residents are told of units, not of staff by name."""
    step = _("工单 %(c)s「%(t)s」:%(a)s") % {"c": case.tracking_code, "t": case.title[:30],
                                           "a": Action(event.action).label}
    if not staff:
        return step
    who = (event.actor.full_name or event.actor.username) if event.actor is not None else ""
    note = mask_text(" ".join((event.note or "").split()))
    if len(note) > NOTE_CHARS:
        note = note[:NOTE_CHARS] + "…"
    said = ":".join(part for part in (who, note) if part)
    return step + (f"({said})" if said else "")


def sms_text(case: Case, event: CaseEvent) -> str:
    sender = case.street.name if case.street_id else _("街道")
    if event.action == Action.CREATE:
        return _("【%(s)s】您的“%(t)s”已受理,查询码 %(c)s。"
                 "请记下查询码,凭查询码和手机号后四位可随时查询进度。") % {
            "s": sender, "t": case.title[:20], "c": case.tracking_code}
    return _("【%(s)s】您的“%(t)s”(查询码 %(c)s)已办结,"
             "请凭查询码和手机号后四位查看办理结果并评价。") % {
        "s": sender, "t": case.title[:20], "c": case.tracking_code}


def on_event(case: Case, event: CaseEvent) -> None:
    on_events([(case, event)])


def on_events(steps: list[tuple[Case, CaseEvent]]) -> None:
    """``on_event`` for the steps of one transaction: one INSERT per table, one user look-up."""
    outgoing(steps).write()


@dataclass
class Outgoing:
    """What the steps of one transaction tell whom, built without the database (``outgoing``)
    and written inside the transaction (``write``)."""

    rows: list[Notification]
    wecom: list[tuple[Case, str, set[int]]]
    sms: list[OutboundMessage]
    sms_rows: list[list]  # ``bulk.values`` of ``sms``, computed ahead (the case's key late)

    def write(self) -> None:
        if self.rows:
            Notification.objects.bulk_create(self.rows)
        if messaging.is_muted():
            return
        messages: list[tuple[str, str, str, Case | None]] = []
        if self.wecom:
            everyone = set().union(*(staff for _case, _text, staff in self.wecom))
            names = dict(User.objects.filter(pk__in=everyone, is_active=True).values_list("pk", "username"))
            for case, text, staff in self.wecom:
                messages.extend((messaging.WECOM, names[pk], text, case)
                                for pk in sorted(staff) if pk in names)
        wecom = messaging.outbound(messages, at=self.sms[0].created_at if self.sms else None)
        messaging.queue_messages(self.sms + wecom,
                                 rows=self.sms_rows + bulk.values(wecom, late=messaging.CASE))


def outgoing(steps: list[tuple[Case, CaseEvent]]) -> Outgoing:
    """The inbox rows and the messages of these steps; the cases and events may be unsaved yet
    (their keys are filled in when the rows are written)."""
    rows: list[Notification] = []
    wecom: list[tuple[Case, str, set[int]]] = []
    sms: list[tuple[str, str, str, Case]] = []
    units = _unit_people({case.handler_unit_id for case, event in steps
                          if event.action in TO_HANDLER and not case.handler_id and case.handler_unit_id})
    dispatchers = _dispatchers({case.pk for case, event in steps if event.action in TO_DISPATCHER})
    for case, event in steps:
        text = text_for(case, event)
        staff: set[int] = set()
        if event.action in TO_HANDLER:
            if case.handler_id:
                staff.add(case.handler_id)
            elif case.handler_unit_id:
                staff |= units.get(case.handler_unit_id, set())
        if event.action in TO_OWNER and case.owner_id:
            staff.add(case.owner_id)
        if event.action in TO_DISPATCHER and dispatchers.get(case.pk):
            staff.add(dispatchers[case.pk])
        staff.discard(event.actor_id)
        staff.discard(case.requester_user_id)  # told as the requester below, if at all
        rows.extend(Notification(user_id=user_id, case=case, event=event, text=text, created_at=event.at)
                    for user_id in sorted(staff))
        if (event.action in TO_REQUESTER and case.requester_user_id
                and case.requester_user_id != event.actor_id):
            rows.append(Notification(user_id=case.requester_user_id, case=case, event=event,
                                     text=text_for(case, event, staff=False), created_at=event.at))
        if staff:
            wecom.append((case, text, staff))
        if event.action in SMS_TO_REQUESTER and MOBILE_RE.match(case.requester_phone or ""):
            sms.append((messaging.SMS, case.requester_phone, sms_text(case, event), case))
    messages = [] if messaging.is_muted() else messaging.outbound(sms)
    return Outgoing(rows, wecom, messages, bulk.values(messages, late=messaging.CASE))


def _unit_people(unit_ids: set[int]) -> dict[int, set[int]]:
    """The active people who work at each unit (``UNIT_ROLES``); no query when there is none
    (an intake names no handler)."""
    people: dict[int, set[int]] = {}
    if unit_ids:
        held = Membership.objects.filter(unit_id__in=unit_ids, role__in=UNIT_ROLES, user__is_active=True)
        for unit_id, user_id in held.values_list("unit_id", "user_id"):
            people.setdefault(unit_id, set()).add(user_id)
    return people


def _dispatchers(case_ids: set[int]) -> dict[int, int]:
    """Who last dispatched each case (a person, not the system); no query when none is asked."""
    if not case_ids:
        return {}
    steps = (CaseEvent.objects.filter(case_id__in=case_ids, action__in=(Action.DISPATCH, Action.REDISPATCH),
                                      actor__isnull=False)
             .order_by("case_id", "at", "pk").values_list("case_id", "actor_id"))
    return dict(steps)  # the last one per case wins
