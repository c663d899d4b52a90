"""Every step of the case loop, one function each.

Each step checks the state machine (``workflow.STEPS``), the actor's right to take it
(``permissions.may``) and the version the actor saw, then — in one transaction — updates the
case with a conditional UPDATE on that version, appends the timeline event, records the
audit event and queues the notifications. A step on a stale version raises ``CaseConflict``
and changes nothing: two people acting on one case cannot silently overwrite each other.

``at=`` lets an import or the demo replay a dated history; it defaults to now.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.audit.trail import Actor, atomic, record
from jiedao.core import bulk
from jiedao.core.groupcommit import GroupCommit
from jiedao.core.identifiers import normalize_mobile, validate_mobile
from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.writerlock import writer_lock

from . import lookups, messaging, notifications, permissions, search, workflow
from .deadlines import deadline_for
from .models import (
    Action,
    Case,
    CaseEvent,
    CaseKind,
    Category,
    Channel,
    Extension,
    ExtensionStatus,
    Outcome,
    Priority,
    Status,
)


class CaseError(Exception):
    """A refused step; ``message`` is shown to the user, ``field`` names the input at fault."""

    status_code = 400

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class TransitionRefused(CaseError):
    status_code = 409


class CaseConflict(CaseError):
    status_code = 409


class NotAllowed(CaseError):
    status_code = 403


TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PHONE_FIELDS = ("requester_phone",)
CHANNELS, PRIORITIES = frozenset(Channel.values), frozenset(Priority.values)  # .values: rebuilt per call


def new_tracking_code() -> str:
    """10 characters from 32: 2^50 codes, so no look-up first; the unique index is the guard.
    Each character is 5 bits of a random byte (32 divides 256: every character equally likely)."""
    return "".join([TRACKING_ALPHABET[b & 31] for b in secrets.token_bytes(10)])


def _clean_phone(value: str) -> str:
    value = (value or "").strip().replace(" ", "")
    if not value:
        return ""
    if value.startswith("0") and value.replace("-", "").isdigit() and 10 <= len(value.replace("-", "")) <= 12:
        return value  # a landline such as 0791-86660000
    phone = normalize_mobile(value)
    try:
        validate_mobile(phone)
        return phone
    except ValidationError as exc:
        message = _("联系电话“%(v)s”不是有效的手机号或座机号") % {"v": value}
        raise CaseError(message, "requester_phone") from exc


def _place(org_unit: OrgUnit | None, community, grid, street) -> tuple[OrgUnit, OrgUnit]:
    unit = grid or community or org_unit or street
    if unit is None:
        raise CaseError(_("请选择工单所在的社区或网格"), "org_unit")
    if unit.kind not in (OrgUnitKind.STREET, OrgUnitKind.COMMUNITY, OrgUnitKind.GRID):
        raise CaseError(_("工单地点必须是街道、社区或网格,不能是“%(u)s”") % {"u": unit.name}, "org_unit")
    if street is not None and unit.path.startswith(street.path):
        unit_street = street  # the caller's street: no need to read it again
    else:
        unit_street = lookups.street_of(unit)
    if street is not None and unit_street != street:
        raise CaseError(_("“%(u)s”不属于%(s)s") % {"u": unit.name, "s": street.name}, "org_unit")
    return unit_street, unit


def default_category(kind: str) -> Category:
    category = Category.objects.filter(kind=kind, is_active=True).order_by("sort", "code").first()
    if category is None:
        raise CaseError(_("“%(k)s”类工单还没有可用的分类") % {"k": CaseKind(kind).label}, "category")
    return category


def case_create(by: Actor, **fields: Any) -> Case:
    """点单 / 受理: register a case. It waits to be dispatched (or claimed, for service orders).

    Checked here, in the caller's thread (``check_intake``); stored by ``store_intakes`` —
    inline inside the caller's transaction, otherwise through this process's group commit
    (``INTAKE``), which stores concurrent intakes together in one transaction."""
    intake = check_intake(by, **fields)
    if connection.in_atomic_block or messaging.is_muted():
        return store_intakes([intake])[0]
    return INTAKE.submit(intake)


MICRO_DEGREE = Decimal("0.000001")
# The longest texts taken (the staff forms' limits): a longer one is refused with the field's
# name, never cut short in silence.
DESCRIPTION_MAX = 5000
NOTE_MAX = 2000


def _within(value: str, limit: int, field: str, label: str) -> str:
    if len(value) > limit:
        raise CaseError(_("%(l)s不能超过 %(n)s 字(现有 %(m)s 字)")
                        % {"l": label, "n": limit, "m": len(value)}, field)
    return value


def check_intake(
    by: Actor,
    *,
    title: str,
    channel: str,
    category: Category | None = None,
    kind: str | None = None,
    org_unit: OrgUnit | None = None,
    community: OrgUnit | None = None,
    grid: OrgUnit | None = None,
    street: OrgUnit | None = None,
    description: str = "",
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    requester_name: str = "",
    requester_phone: str = "",
    requester_user: User | None = None,
    resident=None,
    enterprise=None,
    priority: str = Priority.NORMAL,
    owner: User | None = None,
    at: dt.datetime | None = None,
    note: str = "",
) -> Intake:
    """Check a new case's fields and the actor's right to register it; nothing is written."""
    if category is None:
        if not kind:
            raise CaseError(_("请选择工单分类"), "category")
        category = default_category(kind)
    if not category.is_active:
        raise CaseError(_("分类“%(c)s”已停用") % {"c": category.name}, "category")
    if kind and kind != category.kind:
        raise CaseError(_("分类“%(c)s”不属于“%(k)s”") % {"c": category.name, "k": CaseKind(kind).label},
                        "category")
    title = _within((title or "").strip(), Case._meta.get_field("title").max_length, "title", _("标题"))
    if not title:
        raise CaseError(_("请填写工单标题"), "title")
    description = _within((description or "").strip(), DESCRIPTION_MAX, "description", _("内容"))
    address = _within((address or "").strip(), Case._meta.get_field("address").max_length, "address",
                      _("地址"))
    requester_name = _within((requester_name or "").strip(),
                             Case._meta.get_field("requester_name").max_length, "requester_name",
                             _("诉求人姓名"))
    note = _within(note or "", NOTE_MAX, "note", _("说明"))
    if channel not in CHANNELS:
        raise CaseError(_("未知的来源渠道“%(c)s”") % {"c": channel}, "channel")
    if priority not in PRIORITIES:
        raise CaseError(_("未知的紧急程度“%(p)s”") % {"p": priority}, "priority")
    if (latitude is None) != (longitude is None):
        raise CaseError(_("纬度和经度须同时给出"), "longitude" if longitude is None else "latitude")
    for name, value, low, high in (("latitude", latitude, -90, 90), ("longitude", longitude, -180, 180)):
        if value is not None and not (Decimal(value).is_finite() and low <= Decimal(value) <= high):
            raise CaseError(_("坐标超出范围:%(v)s") % {"v": value}, name)
    if latitude is not None:  # stored to the micro-degree (about 0.1 m): the answer shows what is stored
        latitude = Decimal(latitude).quantize(MICRO_DEGREE)
        longitude = Decimal(longitude).quantize(MICRO_DEGREE)
    street, unit = _place(org_unit, community, grid, street)
    if by.user is not None and not permissions.may_create(by.user, unit):
        raise NotAllowed(_("您不能在“%(u)s”登记工单") % {"u": unit.name}, "org_unit")
    phone = _clean_phone(requester_phone)
    now = at or timezone.now()
    deadline = _deadline_from(now, category, priority)
    case = Case(
        tracking_code=new_tracking_code(), kind=category.kind, category=category, channel=channel,
        title=title, description=description, priority=priority,
        street=street, org_unit=unit, address=address,
        latitude=latitude, longitude=longitude,
        requester_name=requester_name, requester_phone=phone,
        requester_user=requester_user, resident=resident, enterprise=enterprise,
        owner=owner, deadline_at=deadline, created_at=now, updated_at=now,
    )
    return Intake(by, case, note)


URGENT_HOURS = 2


def _deadline_from(start: dt.datetime, category: Category, priority: str) -> dt.datetime:
    """The handling deadline of a case taken in (or sent back for 重办) at ``start``: the
    category's policy in hours or working days, an urgent case's ``URGENT_HOURS``."""
    if priority == Priority.URGENT:
        return start + dt.timedelta(hours=URGENT_HOURS)
    return deadline_for(start, category.deadline_value, category.deadline_unit)


def _sent_back(case: Case, now: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields and event data of 重办 (or an unsatisfied 回访): counted, and handled again
    within a new deadline from now — the old one has usually passed, which would leave the case
    overdue at once with no extension possible. The old deadline stays in the event's data: the
    first resolution's 按期办结 is judged against it (``kpis``)."""
    deadline = _deadline_from(now, case.category, case.priority)
    return ({"reopen_count": case.reopen_count + 1, "closed_at": None, "deadline_at": deadline},
            {"deadline_before": case.deadline_at.isoformat(), "deadline": deadline.isoformat()})


def _drop_pending_extension(case: Case, now: dt.datetime) -> None:
    """A 重办 sets a new deadline: an extension asked for against the old one is void (approved
    later, it would move the new deadline back)."""
    case.extensions.filter(status=ExtensionStatus.PENDING).update(
        status=ExtensionStatus.REJECTED, decided_by=_("重办时作废"), decided_at=now)


@dataclass(frozen=True)
class Intake:
    """A checked, not yet stored case and who registers it."""

    by: Actor
    case: Case
    note: str = ""


def store_intakes(intakes: Sequence[Intake]) -> list[Case]:
    """Store checked cases in one transaction: the cases, their search documents and timeline
    events (one INSERT each for all), an audit event each (sealed onto the chain together) and
    their notifications. Each case comes back with its create event as ``intake_event``."""
    return _IntakeRows(intakes).store()


CASE = ("case",)  # the foreign key filled in at insert (``bulk.values(…, late=)``)


class _IntakeRows:
    """The rows of checked intakes, built before the transaction: on SQLite the transaction is
    the one writer of the whole system, so what needs no database is done before queueing for
    it (``_store_queued``) — the case rows down to their adapted values; the search documents,
    events and messages as objects whose keys are filled in when they are written."""

    def __init__(self, intakes: Sequence[Intake]):
        self.intakes = intakes
        self.cases = [intake.case for intake in intakes]
        for case in self.cases:  # a key left by a batch that rolled back is not the case's
            case.pk = None
        self.case_rows = bulk.values(self.cases)
        self.docs = [search.document_of(case) for case in self.cases]
        self.events = [_new_event(intake.by, case, Action.CREATE, "", Status.RECEIVED, intake.note,
                                  {"channel": case.channel}, case.created_at)
                       for intake, case in zip(intakes, self.cases, strict=True)]
        # Their rows too, but for the case's key, which the insert fills in.
        self.doc_rows = bulk.values(self.docs, late=CASE)
        self.event_rows = bulk.values(self.events, late=CASE)
        self.outgoing = notifications.outgoing(list(zip(self.cases, self.events, strict=True)))

    def store(self) -> list[Case]:
        with atomic():
            bulk.insert(self.cases, match="tracking_code", rows=self.case_rows)
            bulk.insert(self.docs, rows=self.doc_rows, late=CASE)
            bulk.insert(self.events, match="case", rows=self.event_rows, late=CASE)  # one per case
            for intake, case, event in zip(self.intakes, self.cases, self.events, strict=True):
                case.intake_event = event  # the whole timeline of a new case, for the caller's answer
                record(by=intake.by, event_type="cases.create", target=case, org_unit=case.org_unit,
                       changes={"kind": case.kind, "category": case.category.code, "channel": case.channel,
                                "deadline_at": case.deadline_at})
            self.outgoing.write()
        return self.cases


def _store_queued(intakes: Sequence[Intake]) -> list[Case]:
    rows = _IntakeRows(intakes)  # before the lock
    with writer_lock():  # on SQLite, the processes' group commits queue in the kernel
        return rows.store()


# Concurrent intakes of this process share one transaction (jiedao/core/groupcommit.py).
INTAKE: GroupCommit[Intake, Case] = GroupCommit(_store_queued)


def _event(by: Actor, case: Case, action: str, from_status: str, to_status: str, note: str,
           data: dict[str, Any], at: dt.datetime) -> CaseEvent:
    event = _new_event(by, case, action, from_status, to_status, note, data, at)
    event.save(force_insert=True)
    return event


def _new_event(by: Actor, case: Case, action: str, from_status: str, to_status: str, note: str,
               data: dict[str, Any], at: dt.datetime) -> CaseEvent:
    return CaseEvent(case=case, action=action, at=at, actor=by.user, actor_label=_actor_label(by)[:150],
                     from_status=from_status, to_status=to_status, note=(note or "").strip(), data=data)


def _actor_label(by: Actor) -> str:
    if by.user is not None:
        return str(by.user)
    return by.label or "system"


def _step(
    by: Actor,
    case: Case,
    version: int | None,
    action: str,
    *,
    note: str = "",
    fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    to_status: str | None = None,
    check_permission: bool = True,
    note_field: str = "note",
) -> CaseEvent:
    """The one way a case changes. Must run inside ``atomic()``. ``note_field``: what the caller
    calls the note (a 退单's or 重办's reason), named if it is too long."""
    step = workflow.STEPS[action]
    _within(note or "", NOTE_MAX, note_field, _("理由") if note_field == "reason" else _("说明"))
    if version is not None and version != case.version:
        raise CaseConflict(_("工单 %(c)s 已被他人更新(您看到的是第 %(a)s 版,现在是第 %(b)s 版),请刷新后重试")
                           % {"c": case.tracking_code, "a": version, "b": case.version})
    if case.status not in step.sources:
        raise TransitionRefused(_("工单当前状态为“%(s)s”,不能%(a)s")
                                % {"s": Status(case.status).label, "a": Action(action).label})
    if check_permission and by.user is not None and not permissions.may(by.user, action, case):
        raise NotAllowed(_("您无权对该工单%(a)s") % {"a": Action(action).label})
    now = at or timezone.now()
    target = to_status or step.target
    updates = dict(fields or {})
    if target:
        updates["status"] = target
    seen = case.version
    updates.update(version=seen + 1, updated_at=now)
    if Case.objects.filter(pk=case.pk, version=seen).update(**updates) != 1:
        fresh = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
        raise CaseConflict(_("工单 %(c)s 已被他人更新(您看到的是第 %(a)s 版,现在是第 %(b)s 版),请刷新后重试")
                           % {"c": case.tracking_code, "a": seen, "b": fresh})
    from_status = case.status
    for name, value in updates.items():
        setattr(case, name, value)
    event = _event(by, case, action, from_status, target or from_status, note, data or {}, now)
    changes = {name: value for name, value in updates.items() if name not in ("version", "updated_at")}
    record(by=by, event_type=f"cases.{action}", target=case, org_unit=case.org_unit,
           changes={**changes, **({"note": note} if note else {})})
    notifications.on_event(case, event)
    return event


def _unit_label(unit: OrgUnit | None, user: User | None) -> str:
    return " / ".join(str(x) for x in (unit, user) if x is not None)


def _check_target(case: Case, handler_unit: OrgUnit | None, handler: User | None) -> None:
    if handler_unit is None and handler is None:
        raise CaseError(_("请选择承办单位或承办人"), "handler_unit")
    if handler_unit is not None and not handler_unit.path.startswith(case.street.path):
        raise CaseError(_("承办单位“%(u)s”不在%(s)s") % {"u": handler_unit.name, "s": case.street.name},
                        "handler_unit")
    if handler is not None and not handler.is_active:
        raise CaseError(_("承办人 %(u)s 的账号已停用") % {"u": handler}, "handler")
    if handler is not None:
        # Anyone who works somewhere in the system (staff, a grid worker, a service provider)
        # may be named — a case can be given to a person outside the case's street — but not a
        # resident; named with a handling unit, the person belongs to it (or to a unit above it).
        held = Membership.objects.filter(user=handler).values_list("unit__path", "role")
        paths = [path for path, role in held if role != Role.RESIDENT]
        if not paths:
            raise CaseError(_("%(u)s 不是工作人员或服务方,不能承办") % {"u": handler}, "handler")
        if handler_unit is not None and not any(_related(path, handler_unit.path) for path in paths):
            raise CaseError(_("承办人 %(u)s 不属于承办单位“%(n)s”") % {"u": handler, "n": handler_unit.name},
                            "handler")


def _related(a: str, b: str) -> bool:
    """One unit path within the other (same unit, below it or above it)."""
    return a.startswith(b) or b.startswith(a)


def dispatch(by: Actor, case: Case, *, version: int | None, handler_unit: OrgUnit | None = None,
             handler: User | None = None, note: str = "", at: dt.datetime | None = None,
             action: str = Action.DISPATCH) -> CaseEvent:
    """派单 (or 改派 with ``action=REDISPATCH``): give the case to a unit and/or a person."""
    _check_target(case, handler_unit, handler)
    now = at or timezone.now()
    fields: dict[str, Any] = {
        "handler_unit": handler_unit, "handler": handler,
        "accept_due_at": now + dt.timedelta(hours=case.category.accept_hours),
    }
    if case.dispatched_at is None:
        fields["dispatched_at"] = now
    with atomic():
        return _step(by, case, version, action, note=note, fields=fields, at=now,
                     data={"handler_unit": _unit_label(handler_unit, None),
                           "handler": str(handler) if handler else ""})


def redispatch(by: Actor, case: Case, *, version: int | None, handler_unit: OrgUnit | None = None,
               handler: User | None = None, note: str = "", at: dt.datetime | None = None) -> CaseEvent:
    if not (note or "").strip():
        raise CaseError(_("改派请写明原因"), "note")
    return dispatch(by, case, version=version, handler_unit=handler_unit, handler=handler, note=note,
                    at=at, action=Action.REDISPATCH)


def accept(by: Actor, case: Case, *, version: int | None, note: str = "",
           at: dt.datetime | None = None) -> CaseEvent:
    """签收 / 接单."""
    now = at or timezone.now()
    fields: dict[str, Any] = {}
    if case.accepted_at is None:
        fields["accepted_at"] = now
    if case.handler_id is None and by.user is not None:
        fields["handler"] = by.user
    with atomic():
        return _step(by, case, version, Action.ACCEPT, note=note, fields=fields, at=now)


def claim(by: Actor, case: Case, *, version: int | None, note: str = "",
          at: dt.datetime | None = None) -> CaseEvent:
    """认领 / 抢单: a provider takes an open service order from the pool."""
    if by.user is None:
        raise NotAllowed(_("认领需要服务方账号"))
    now = at or timezone.now()
    fields = {"handler": by.user, "handler_unit": case.org_unit, "accepted_at": case.accepted_at or now,
              "dispatched_at": case.dispatched_at or now}
    with atomic():
        return _step(by, case, version, Action.CLAIM, note=note, fields=fields, at=now)


def return_case(by: Actor, case: Case, *, version: int | None, reason: str,
                at: dt.datetime | None = None) -> CaseEvent:
    """退单: the handler hands it back to the dispatcher, with a reason."""
    if not (reason or "").strip():
        raise CaseError(_("退单必须写明理由"), "reason")
    with atomic():
        return _step(by, case, version, Action.RETURN, note=reason, note_field="reason", at=at,
                     fields={"handler": None, "handler_unit": None, "accept_due_at": None})


def merge(by: Actor, case: Case, *, version: int | None, primary: Case, note: str = "",
          at: dt.datetime | None = None) -> CaseEvent:
    """并单: ``case`` duplicates ``primary``; it closes when the primary closes."""
    if primary.pk == case.pk:
        raise CaseError(_("不能把工单并入它自己"), "primary")
    if primary.street_id != case.street_id:
        raise CaseError(_("只能并入同一街道的工单"), "primary")
    if (merged := Case.objects.filter(merged_into=case).count()) > 0:
        # Its duplicates close when it closes: merged on, they would wait for a case that no
        # longer closes them. The other way round keeps one primary for all.
        raise CaseError(_("工单 %(c)s 已有 %(n)s 件重复件并入,不能再并入别的工单;可以把 %(p)s 并入它")
                        % {"c": case.tracking_code, "n": merged, "p": primary.tracking_code}, "primary")
    if primary.status in (Status.MERGED, Status.CLOSED):
        raise CaseError(_("主工单 %(c)s 的状态为“%(s)s”,不能再并入") % {
            "c": primary.tracking_code, "s": Status(primary.status).label}, "primary")
    with atomic():
        event = _step(by, case, version, Action.MERGE, note=note, at=at, fields={"merged_into": primary},
                      data={"primary": primary.tracking_code})
        _event(by, primary, Action.NOTE, primary.status, primary.status,
               _("并入重复工单 %(c)s") % {"c": case.tracking_code}, {"merged": case.tracking_code},
               event.at)
    return event


def add_note(by: Actor, case: Case, *, note: str, at: dt.datetime | None = None) -> CaseEvent:
    if not (note or "").strip():
        raise CaseError(_("备注不能为空"), "note")
    with atomic():
        return _step(by, case, None, Action.NOTE, note=note, at=at)


MAX_EXTENSION = dt.timedelta(days=365)


def request_extension(by: Actor, case: Case, *, version: int | None, new_deadline: dt.datetime,
                      reason: str, at: dt.datetime | None = None) -> Extension:
    """申请延期: before the deadline, with a reason and a later date, at most ``MAX_EXTENSION``
    later (a date given without its offset is the office's local time)."""
    now = at or timezone.now()
    if not (reason or "").strip():
        raise CaseError(_("申请延期必须写明理由"), "reason")
    _within(reason.strip(), Extension._meta.get_field("reason").max_length, "reason", _("延期理由"))
    if now > case.deadline_at:
        raise CaseError(_("已超过办理期限,不能再申请延期"), "new_deadline")
    if timezone.is_naive(new_deadline):
        new_deadline = timezone.make_aware(new_deadline)
    if new_deadline <= case.deadline_at:
        raise CaseError(_("延期后的期限必须晚于现在的期限"), "new_deadline")
    if new_deadline - case.deadline_at > MAX_EXTENSION:
        raise CaseError(_("一次延期最多 %(d)s 天") % {"d": MAX_EXTENSION.days}, "new_deadline")
    if case.extensions.filter(status=ExtensionStatus.PENDING).exists():
        raise CaseError(_("已有一项待审批的延期申请"), "new_deadline")
    with atomic():
        _step(by, case, version, Action.EXTEND_REQUEST, note=reason, note_field="reason", at=now,
              data={"new_deadline": new_deadline.isoformat()})
        return Extension.objects.create(case=case, requested_by=_actor_label(by), requested_at=now,
                                        reason=reason.strip(), old_deadline=case.deadline_at,
                                        new_deadline=new_deadline)


def decide_extension(by: Actor, case: Case, *, version: int | None, approve: bool, note: str = "",
                     at: dt.datetime | None = None) -> CaseEvent:
    pending = case.extensions.filter(status=ExtensionStatus.PENDING).first()
    if pending is None:
        raise CaseError(_("没有待审批的延期申请"), "extension")
    now = at or timezone.now()
    with atomic():
        fields = {"deadline_at": pending.new_deadline} if approve else {}
        event = _step(by, case, version, Action.EXTEND_APPROVE if approve else Action.EXTEND_REJECT,
                      note=note, fields=fields, at=now,
                      data={"new_deadline": pending.new_deadline.isoformat()})
        pending.status = ExtensionStatus.APPROVED if approve else ExtensionStatus.REJECTED
        pending.decided_by, pending.decided_at = _actor_label(by), now
        pending.save(update_fields=["status", "decided_by", "decided_at"])
    return event


def resolve(by: Actor, case: Case, *, version: int | None, outcome: str, note: str,
            at: dt.datetime | None = None) -> CaseEvent:
    """办结 with an outcome (解决 / 转办 / 解释说明 / 无法解决) and what was done."""
    if outcome not in Outcome.values:
        raise CaseError(_("请选择办理结果"), "outcome")
    if not (note or "").strip():
        raise CaseError(_("请写明办理情况"), "note")
    now = at or timezone.now()
    with atomic():
        return _step(by, case, version, Action.RESOLVE, note=note, at=now,
                     fields={"outcome": outcome, "outcome_note": note.strip(), "resolved_at": now},
                     data={"outcome": outcome})


def review(by: Actor, case: Case, *, version: int | None, satisfied: bool, solved: bool | None = None,
           rating: int | None = None, note: str = "", at: dt.datetime | None = None) -> CaseEvent:
    """回访: a satisfied answer archives the case; an unsatisfied one reopens it (重办)."""
    if rating is not None and not 1 <= int(rating) <= 5:
        raise CaseError(_("评分应为 1 到 5"), "rating")
    now = at or timezone.now()
    fields: dict[str, Any] = {"satisfied": satisfied, "solved_by_review": solved,
                              "rating": rating, "reviewed_at": now}
    data = {"satisfied": satisfied, "solved": solved, "rating": rating}
    with atomic():
        if satisfied:
            fields["closed_at"] = now
            event = _step(by, case, version, Action.REVIEW, note=note, fields=fields, data=data, at=now,
                          to_status=Status.CLOSED)
            _close_merged(by, case, now)
            return event
        again, more = _sent_back(case, now)
        event = _step(by, case, version, Action.REVIEW, note=note, fields={**fields, **again},
                      data={**data, **more}, at=now, to_status=Status.IN_PROGRESS)
        _drop_pending_extension(case, now)
        return event


def reopen(by: Actor, case: Case, *, version: int | None, reason: str,
           at: dt.datetime | None = None) -> CaseEvent:
    """重办: back to the handler, counted."""
    if not (reason or "").strip():
        raise CaseError(_("重办必须写明理由"), "reason")
    now = at or timezone.now()
    fields, data = _sent_back(case, now)
    with atomic():
        event = _step(by, case, version, Action.REOPEN, note=reason, note_field="reason", at=now,
                      fields=fields, data=data)
        _drop_pending_extension(case, now)
        return event


def close(by: Actor, case: Case, *, version: int | None, note: str = "",
          at: dt.datetime | None = None) -> CaseEvent:
    """归档 without a review answer (e.g. the requester could not be reached)."""
    now = at or timezone.now()
    with atomic():
        event = _step(by, case, version, Action.CLOSE, note=note, at=now, fields={"closed_at": now})
        _close_merged(by, case, now)
        return event


def _close_merged(by: Actor, primary: Case, now: dt.datetime) -> None:
    for dup in Case.objects.filter(merged_into=primary, status=Status.MERGED):
        Case.objects.filter(pk=dup.pk).update(closed_at=now, outcome=primary.outcome,
                                              version=dup.version + 1, updated_at=now)
        _event(by, dup, Action.CLOSE, Status.MERGED, Status.MERGED,
               _("随主工单 %(c)s 归档") % {"c": primary.tracking_code},
               {"primary": primary.tracking_code}, now)


def supervise(by: Actor, case: Case, *, version: int | None, note: str,
              at: dt.datetime | None = None) -> CaseEvent:
    """督办: a leader marks the case; it shows on the supervision and handler lists."""
    if not (note or "").strip():
        raise CaseError(_("请写明督办要求"), "note")
    note = _within(note.strip(), Case._meta.get_field("supervision_note").max_length, "note", _("督办要求"))
    now = at or timezone.now()
    with atomic():
        return _step(by, case, version, Action.SUPERVISE, note=note, at=now,
                     fields={"supervised_at": now, "supervision_note": note})


def assign_owner(by: Actor, case: Case, *, version: int | None, owner: User,
                 at: dt.datetime | None = None) -> CaseEvent:
    """包案: a leader answers for the case."""
    from jiedao.accounts.access import has_cap
    from jiedao.accounts.roles import Cap

    if not has_cap(owner, Cap.SUPERVISE, case.org_unit):
        raise CaseError(_("%(u)s 不是本街道的领导,不能包案") % {"u": owner}, "owner")
    with atomic():
        return _step(by, case, version, Action.ASSIGN_OWNER, at=at, fields={"owner": owner},
                     data={"owner": str(owner)})
