"""Every write to work records: keyword-only, audited, one transaction.

Whatever is raised at a meeting, on a visit or an inspection goes to the case loop through
``jiedao.cases.services.case_create`` in the same transaction as the record, so a record never
exists without its cases (nor the reverse). Permission to act on a unit is checked here too,
so the pages, the importer and the API cannot differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from jiedao.accounts.access import has_cap
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor, atomic, atomic_service, record
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import indicators as ind
from .models import (
    ActivityType,
    EnterpriseVisit,
    Indicator,
    IndicatorTarget,
    IndicatorValue,
    Inspection,
    InspectionHazard,
    InsuranceEnrolment,
    JobFair,
    KeyEnterprise,
    Meeting,
    MeetingAttendance,
    MeetingKind,
    MeetingSuggestion,
    PlanItem,
    ReliefVisit,
    Tally,
    TallyPhoto,
    VisitItem,
    VisitItemKind,
)

PHOTO_MAX_BYTES = 10 * 1024 * 1024


def require_write(by: Actor, unit: OrgUnit) -> None:
    """The actor may write business records on ``unit`` (the system itself always may)."""
    if by.user is not None and not has_cap(by.user, Cap.BUSINESS_WRITE, unit):
        raise ValidationError({"org_unit": _("无权在“%(u)s”录入") % {"u": unit.name}})


def _street(unit: OrgUnit) -> OrgUnit:
    street = unit.street
    if street is None:
        raise ValidationError({"org_unit": _("“%(u)s”不属于任何街道") % {"u": unit.name}})
    return street


def _case(by: Actor, *, unit: OrgUnit, kind: str, channel: str, title: str, description: str,
          **extra):
    """Open a case through the case loop for something raised on ``unit`` (a department's
    matter is placed on its street). A refusal of the case loop becomes a ValidationError."""
    from jiedao.cases.services import CaseError, case_create

    where: dict = {"street": _street(unit)}
    if unit.kind == OrgUnitKind.GRID:
        where["grid"] = unit
    elif unit.kind == OrgUnitKind.COMMUNITY:
        where["community"] = unit
    try:
        return case_create(by, kind=kind, title=title[:120], description=description,
                           channel=channel, **where, **extra)
    except CaseError as exc:
        raise ValidationError({exc.field or "case": exc.message}) from exc


def _category(code: str):
    """The case category the catalogue keeps for this source, if it still has it (the case
    loop falls back to the kind's default otherwise)."""
    from jiedao.cases.models import Category

    return Category.objects.filter(code=code, is_active=True).first()


def _attach(by: Actor, case, photos: Sequence[UploadedFile], stage: str) -> None:
    from jiedao.cases.attachments import attach
    from jiedao.cases.services import CaseError

    for photo in photos:
        try:
            attach(by, case, upload=photo, stage=stage)
        except CaseError as exc:
            raise ValidationError({"photos": exc.message}) from exc


def _clean(obj) -> None:
    obj.full_clean(exclude=["created_by"])


def _lines(texts: Iterable[str]) -> list[str]:
    return [t.strip() for t in texts if t and t.strip()]


def _photo_check(photo: UploadedFile) -> None:
    """Photos are judged by their bytes (the case loop's sniffer), not their declared type."""
    from jiedao.cases.attachments import sniff

    if photo.size > PHOTO_MAX_BYTES:
        raise ValidationError({"photos": _("照片“%(n)s”超过 10 MB") % {"n": photo.name}})
    head = photo.read(16)
    photo.seek(0)
    kind = sniff(head)
    if kind is None or not kind[0].startswith("image/"):
        raise ValidationError({"photos": _("“%(n)s”不是 JPEG、PNG、GIF 或 WebP 图片")
                               % {"n": photo.name}})


# --- 工作量 ----------------------------------------------------------------------------

@atomic_service
def tally_create(by: Actor, *, org_unit: OrgUnit, date: dt.date, activity: ActivityType,
                 quantity: Decimal, note: str = "",
                 photos: Sequence[UploadedFile] = ()) -> Tally:
    require_write(by, org_unit)
    if not activity.is_active:
        raise ValidationError({"activity": _("工作类型“%(a)s”已停用") % {"a": activity.name}})
    tally = Tally(org_unit=org_unit, date=date, activity=activity, quantity=Decimal(quantity),
                  note=note, created_by=by.user)
    _clean(tally)
    tally.save()
    for photo in photos:
        _photo_check(photo)
        TallyPhoto.objects.create(tally=tally, file=photo, name=photo.name[:200])
    record(by=by, event_type="records.tally_create", target=tally, org_unit=org_unit,
           changes={"date": [None, date], "activity": [None, activity.name],
                    "quantity": [None, str(quantity)], "photos": [None, len(photos)]})
    return tally


@dataclass
class TallyRow:
    line: int
    org_unit: OrgUnit
    date: dt.date
    activity: ActivityType
    quantity: Decimal
    note: str


@atomic_service
def tally_import(by: Actor, *, rows: Sequence[TallyRow], filename: str = "") -> list[Tally]:
    """Rows already parsed and checked (``xlsx.read_tallies``); all are written or none."""
    created = []
    for row in rows:
        try:
            with atomic():
                created.append(tally_create(by, org_unit=row.org_unit, date=row.date,
                                            activity=row.activity, quantity=row.quantity,
                                            note=row.note))
        except ValidationError as exc:
            raise ValidationError(_("第 %(n)d 行:%(e)s") % {"n": row.line, "e": _flat(exc)}) from exc
    record(by=by, event_type="records.tally_import", target_type="records.tally",
           org_unit=by.user.home_unit if by.user else None,
           detail=_("导入 %(f)s:%(n)d 条") % {"f": filename, "n": len(created)})
    return created


def _flat(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return ";".join(f"{m}" for msgs in exc.message_dict.values() for m in msgs)
    return ";".join(exc.messages)


# --- 会议 ------------------------------------------------------------------------------

MEETING_CATEGORY = {
    MeetingKind.ROUNDTABLE: "suggestion-roundtable",
    MeetingKind.JOINT: "suggestion-joint",
    MeetingKind.FOUR_PARTY: "suggestion-joint",
}
INSPECTION_CATEGORY = {"fire": "safety-fire", "safety": "safety-production"}
MEETING_CHANNEL = {
    MeetingKind.ROUNDTABLE: "roundtable",
    MeetingKind.JOINT: "joint_meeting",
    MeetingKind.FOUR_PARTY: "joint_meeting",
}


@atomic_service
def meeting_create(by: Actor, *, org_unit: OrgUnit, kind: str, date: dt.date, place: str,
                   topic: str, minutes: str = "",
                   attendance: dict[str, tuple[int, str]] | None = None,
                   suggestions: Iterable[str] = (), at: dt.datetime | None = None) -> Meeting:
    require_write(by, org_unit)
    meeting = Meeting(org_unit=org_unit, kind=kind, date=date, place=place, topic=topic,
                      minutes=minutes, created_by=by.user)
    _clean(meeting)
    meeting.save()
    for party, (count, names) in (attendance or {}).items():
        if count:
            row = MeetingAttendance(meeting=meeting, party=party, count=count, names=names)
            row.full_clean(exclude=["meeting"])
            row.save()
    texts = _lines(suggestions)
    record(by=by, event_type="records.meeting_create", target=meeting, org_unit=org_unit,
           changes={"kind": [None, kind], "date": [None, date], "topic": [None, topic],
                    "suggestions": [None, len(texts)]})
    for text in texts:
        meeting_add_suggestion(by, meeting=meeting, text=text, at=at)
    return meeting


@atomic_service
def meeting_add_suggestion(by: Actor, *, meeting: Meeting, text: str,
                           at: dt.datetime | None = None) -> MeetingSuggestion:
    require_write(by, meeting.org_unit)
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("意见建议不能为空")})
    case = _case(by, unit=meeting.org_unit, kind="suggestion",
                 channel=MEETING_CHANNEL.get(meeting.kind, "joint_meeting"), title=text,
                 description=_("%(m)s(%(d)s,%(p)s)收集的意见建议:%(t)s")
                 % {"m": meeting.get_kind_display(), "d": meeting.date, "p": meeting.place,
                    "t": text},
                 category=_category(MEETING_CATEGORY.get(meeting.kind, "")), at=at)
    suggestion = MeetingSuggestion.objects.create(meeting=meeting, text=text[:500], case=case)
    record(by=by, event_type="records.meeting_suggestion", target=meeting,
           org_unit=meeting.org_unit, changes={"suggestion": [None, text], "case": [None, case.pk]})
    return suggestion


# --- 走访认亲 --------------------------------------------------------------------------

@atomic_service
def enterprise_visit_create(by: Actor, *, org_unit: OrgUnit, date: dt.date, visitor_name: str,
                            target_kind: str, target_name: str = "", enterprise=None,
                            visitor=None, note: str = "", demands: Iterable[str] = (),
                            suggestions: Iterable[str] = (), at: dt.datetime | None = None
                            ) -> EnterpriseVisit:
    require_write(by, org_unit)
    if enterprise is not None:
        if not org_unit.street or not enterprise.org_unit.path.startswith(org_unit.street.path):
            raise ValidationError({"enterprise": _("企业不在本街道")})
        target_name = target_name or enterprise.name
    visit = EnterpriseVisit(org_unit=org_unit, date=date, visitor=visitor,
                            visitor_name=visitor_name, target_kind=target_kind,
                            enterprise=enterprise, target_name=target_name, note=note,
                            created_by=by.user)
    _clean(visit)
    visit.save()
    record(by=by, event_type="records.visit_create", target=visit, org_unit=org_unit,
           changes={"date": [None, date], "target": [None, target_name],
                    "visitor": [None, visitor_name]})
    for kind, texts in ((VisitItemKind.DEMAND, demands), (VisitItemKind.SUGGESTION, suggestions)):
        for text in _lines(texts):
            visit_add_item(by, visit=visit, kind=kind, text=text, at=at)
    return visit


@atomic_service
def visit_add_item(by: Actor, *, visit: EnterpriseVisit, kind: str, text: str,
                   at: dt.datetime | None = None) -> VisitItem:
    require_write(by, visit.org_unit)
    label = VisitItemKind(kind).label
    case = _case(by, unit=visit.org_unit, kind="enterprise_demand", channel="visit", title=text,
                 description=_("%(d)s 走访%(t)s收集的%(k)s:%(x)s")
                 % {"d": visit.date, "t": visit.target_name, "k": label, "x": text},
                 enterprise=visit.enterprise, at=at)
    item = VisitItem.objects.create(visit=visit, kind=kind, text=text[:500], case=case)
    record(by=by, event_type="records.visit_item", target=visit, org_unit=visit.org_unit,
           changes={kind: [None, text], "case": [None, case.pk]})
    return item


@atomic_service
def key_enterprise_add(by: Actor, *, org_unit: OrgUnit, year: int, leader, enterprise
                       ) -> KeyEnterprise:
    require_write(by, org_unit)
    if KeyEnterprise.objects.filter(year=year, leader=leader, enterprise=enterprise).exists():
        raise ValidationError({"enterprise": _("该企业已在这位领导的%(y)d年联系名单中")
                               % {"y": year}})
    link = KeyEnterprise(org_unit=org_unit, year=year, leader=leader, enterprise=enterprise,
                         created_by=by.user)
    _clean(link)
    link.save()
    record(by=by, event_type="records.key_enterprise_add", target=link, org_unit=org_unit,
           changes={"year": [None, year], "leader": [None, leader.pk],
                    "enterprise": [None, enterprise.pk]})
    return link


# --- 慰问、招聘会、参保 -----------------------------------------------------------------

def _simple_create(by: Actor, model, event: str, **values):
    require_write(by, values["org_unit"])
    obj = model(created_by=by.user, **values)
    _clean(obj)
    obj.save()
    record(by=by, event_type=f"records.{event}", target=obj, org_unit=obj.org_unit,
           changes={k: [None, v.pk if hasattr(v, "pk") else v] for k, v in values.items()
                    if k not in ("org_unit", "household")})
    return obj


@atomic_service
def relief_create(by: Actor, *, org_unit: OrgUnit, date: dt.date, household: str, group: str,
                  amount: Decimal, occasion: str = "", resident=None, note: str = "") -> ReliefVisit:
    return _simple_create(by, ReliefVisit, "relief_create", org_unit=org_unit, date=date,
                          household=household, group=group, amount=Decimal(amount),
                          occasion=occasion, resident=resident, note=note)


@atomic_service
def job_fair_create(by: Actor, *, org_unit: OrgUnit, date: dt.date, title: str, positions: int,
                    placed: int = 0, note: str = "") -> JobFair:
    return _simple_create(by, JobFair, "job_fair_create", org_unit=org_unit, date=date,
                          title=title, positions=positions, placed=placed, note=note)


@atomic_service
def insurance_record(by: Actor, *, org_unit: OrgUnit, as_of: dt.date, kind: str, total: int,
                     new: int = 0) -> InsuranceEnrolment:
    if new > total:
        raise ValidationError({"new": _("新增人数不能大于累计人数")})
    if InsuranceEnrolment.objects.filter(org_unit=org_unit, as_of=as_of, kind=kind).exists():
        raise ValidationError({"as_of": _("该单位该日期的这一项已录入")})
    return _simple_create(by, InsuranceEnrolment, "insurance_record", org_unit=org_unit,
                          as_of=as_of, kind=kind, total=total, new=new)


# --- 排查 ------------------------------------------------------------------------------

@dataclass
class HazardInput:
    text: str
    photos: Sequence[UploadedFile] = ()


@atomic_service
def inspection_create(by: Actor, *, org_unit: OrgUnit, date: dt.date, kind: str,
                      premises_kind: str, premises: str, enterprise=None, building=None,
                      inspectors: int = 1, note: str = "",
                      hazards: Iterable[HazardInput | str] = (), at: dt.datetime | None = None) -> Inspection:
    require_write(by, org_unit)
    inspection = Inspection(org_unit=org_unit, date=date, kind=kind, premises_kind=premises_kind,
                            premises=premises, enterprise=enterprise, building=building,
                            inspectors=inspectors, note=note, created_by=by.user)
    _clean(inspection)
    inspection.save()
    record(by=by, event_type="records.inspection_create", target=inspection, org_unit=org_unit,
           changes={"date": [None, date], "kind": [None, kind], "premises": [None, premises]})
    for hazard in hazards:
        if isinstance(hazard, str):
            hazard = HazardInput(hazard)
        if hazard.text.strip():
            inspection_add_hazard(by, inspection=inspection, text=hazard.text,
                                  photos=hazard.photos, at=at)
    return inspection


@atomic_service
def inspection_add_hazard(by: Actor, *, inspection: Inspection, text: str,
                          photos: Sequence[UploadedFile] = (), at: dt.datetime | None = None
                          ) -> InspectionHazard:
    require_write(by, inspection.org_unit)
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("隐患描述不能为空")})
    case = _case(by, unit=inspection.org_unit, kind="hazard", channel="inspection", title=text,
                 description=_("%(d)s %(k)s排查(%(p)s)发现:%(t)s")
                 % {"d": inspection.date, "k": inspection.get_kind_display(),
                    "p": inspection.premises, "t": text},
                 address=inspection.premises[:200], enterprise=inspection.enterprise,
                 category=_category(INSPECTION_CATEGORY.get(inspection.kind, "")), at=at)
    _attach(by, case, photos, "before")
    hazard = InspectionHazard.objects.create(inspection=inspection, text=text[:500], case=case)
    record(by=by, event_type="records.inspection_hazard", target=inspection,
           org_unit=inspection.org_unit, changes={"hazard": [None, text], "case": [None, case.pk]})
    return hazard


# --- 经济指标 --------------------------------------------------------------------------

def _require_indicator_entry(by: Actor, street: OrgUnit) -> None:
    if street.kind != OrgUnitKind.STREET:
        raise ValidationError({"street": _("“%(u)s”不是街道") % {"u": street.name}})
    if by.user is not None and not ind.may_enter(by.user, street):
        raise ValidationError({"street": _("无权录入“%(u)s”的经济指标") % {"u": street.name}})


@atomic_service
def indicator_value_set(by: Actor, *, indicator: Indicator, street: OrgUnit, year: int,
                        month: int, actual: Decimal) -> IndicatorValue:
    """Set (or correct) a street's cumulative figure for months 1–``month``."""
    _require_indicator_entry(by, street)
    value = IndicatorValue.objects.filter(indicator=indicator, org_unit=street, year=year,
                                          month=month).first()
    old = value.actual if value else None
    if value is None:
        value = IndicatorValue(indicator=indicator, org_unit=street, year=year, month=month)
    value.actual = Decimal(actual)
    value.updated_by = by.user
    # The row was looked up above and the FKs are the caller's objects: check the fields only.
    value.clean_fields(exclude=["indicator", "org_unit", "updated_by"])
    if old is not None and old == value.actual:
        return value
    value.save()
    record(by=by, event_type="records.indicator_value_set", target=value, org_unit=street,
           target_label=f"{indicator.name} {street.name} {year}年{ind.period_label(indicator, month)}",
           changes={"actual": [None if old is None else str(old), str(value.actual)]})
    return value


@atomic_service
def indicator_target_set(by: Actor, *, indicator: Indicator, street: OrgUnit, year: int,
                         target: Decimal) -> IndicatorTarget:
    _require_indicator_entry(by, street)
    obj = IndicatorTarget.objects.filter(indicator=indicator, org_unit=street, year=year).first()
    old = obj.target if obj else None
    if obj is None:
        obj = IndicatorTarget(indicator=indicator, org_unit=street, year=year)
    obj.target = Decimal(target)
    obj.clean_fields(exclude=["indicator", "org_unit"])
    if old is not None and old == obj.target:
        return obj
    obj.save()
    record(by=by, event_type="records.indicator_target_set", target=obj, org_unit=street,
           target_label=f"{indicator.name} {street.name} {year}年目标",
           changes={"target": [None if old is None else str(old), str(obj.target)]})
    return obj


@dataclass
class IndicatorRow:
    line: int
    indicator: Indicator
    street: OrgUnit
    year: int
    month: int | None
    target: Decimal | None
    actual: Decimal | None


@atomic_service
def indicator_import(by: Actor, *, rows: Sequence[IndicatorRow], filename: str = "") -> int:
    """The district statistics sheet: all rows are written, or none (the first refusal names
    its row)."""
    changed = 0
    for row in rows:
        try:
            if row.target is not None:
                indicator_target_set(by, indicator=row.indicator, street=row.street,
                                     year=row.year, target=row.target)
                changed += 1
            if row.actual is not None and row.month is not None:
                indicator_value_set(by, indicator=row.indicator, street=row.street,
                                    year=row.year, month=row.month, actual=row.actual)
                changed += 1
        except ValidationError as exc:
            raise ValidationError(_("第 %(n)d 行:%(e)s") % {"n": row.line, "e": _flat(exc)}) from exc
    record(by=by, event_type="records.indicator_import", target_type="records.indicatorvalue",
           detail=_("导入 %(f)s:%(r)d 行") % {"f": filename, "r": len(rows)})
    return changed


# --- 工作计划 --------------------------------------------------------------------------

PLAN_FIELDS = ["year", "section", "text", "owner", "measures", "status", "indicator",
               "category", "sort"]


@atomic_service
def plan_item_save(by: Actor, *, item: PlanItem | None = None, org_unit: OrgUnit | None = None,
                   **values) -> PlanItem:
    """Create a plan item (``org_unit`` given) or update ``item``."""
    from jiedao.audit.trail import diff, snapshot

    unknown = set(values) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields {unknown}")
    creating = item is None
    if creating:
        require_write(by, org_unit)
        item = PlanItem(org_unit=org_unit, created_by=by.user)
        before: dict = {}
    else:
        require_write(by, item.org_unit)
        before = snapshot(item, PLAN_FIELDS)
    for name, value in values.items():
        setattr(item, name, value)
    _clean(item)
    item.save()
    changes = diff(item, before, PLAN_FIELDS) if not creating else {
        k: [None, v] for k, v in snapshot(item, PLAN_FIELDS).items()}
    if changes:
        record(by=by, event_type="records.plan_create" if creating else "records.plan_update",
               target=item, org_unit=item.org_unit, changes=changes)
    return item
