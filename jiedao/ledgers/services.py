"""Every write to the ledgers (except the bulk importer, see engine.py), audited.

``<entity>_<verb>(*, by, …)`` services validate with the same parsers as the importer
(jiedao.ledgers.fields), write inside ``jiedao.audit.trail.atomic`` and record one event.
Personal values in an event's ``changes`` are masked: the audit trail is read by auditors,
who must not see more of a person than a case worker does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.audit.trail import Actor, atomic, diff, record, snapshot
from jiedao.core.masking import mask_birth_date, mask_id, mask_name, mask_phone

from . import fields as F
from .models import (
    Building,
    Enterprise,
    HealthArchive,
    IntegrityArchive,
    IntegrityEntry,
    Project,
    ProjectInvestment,
    ProjectMilestone,
    RelocationHousehold,
    RelocationPlot,
    Resident,
    ResidentGroup,
    ServiceAgreement,
)

MASKERS = {
    "birth_date": mask_birth_date,
    "name": mask_name,
    "head_name": mask_name,
    "contact_name": mask_name,
    "id_number": mask_id,
    "phone": mask_phone,
    "contact_phone": mask_phone,
}
PERSONAL_FIELDS = {
    "ledgers.resident": {"name", "id_number", "phone", "birth_date"},
    "ledgers.relocationhousehold": {"head_name", "id_number", "phone"},
    "ledgers.enterprise": {"contact_name", "contact_phone"},
}


class DuplicateRecord(ValidationError):
    """A natural key already taken by an active record; ``existing`` is that record."""

    def __init__(self, message: str, existing: models.Model, field: str):
        super().__init__({field: message})
        self.existing = existing


def masked(changes: dict[str, Any], obj: models.Model) -> dict[str, Any]:
    """Mask the personal fields of ``obj``'s kind (a project's or building's name is not personal):
    when an event is recorded, and again when one recorded before a field counted as personal is
    shown (masking a masked value changes nothing)."""
    personal = PERSONAL_FIELDS.get(obj._meta.label_lower, ())
    out = {}
    for name, value in changes.items():
        masker = MASKERS.get(name) if name in personal else None
        if masker and isinstance(value, list):
            out[name] = [masker(v) if isinstance(v, (str, dt.date)) else v for v in value]
        elif masker and isinstance(value, (str, dt.date)):
            out[name] = masker(value)
        else:
            out[name] = value
    return out


def _parse(func, value, field, **kwargs):
    try:
        return func(value, **kwargs)
    except ValueError as error:
        raise ValidationError({field: str(error)}) from None


def _create(by: Actor, obj: models.Model, event: str, fields: list[str]) -> models.Model:
    obj.full_clean(validate_constraints=False)
    obj.save()
    record(
        by=by,
        event_type=event,
        target=obj,
        org_unit=obj.org_unit,
        changes=masked({k: [None, v] for k, v in snapshot(obj, fields).items()}, obj),
    )
    return obj


def _update(by: Actor, obj: models.Model, event: str, fields: list[str], values: dict[str, Any]) -> list[str]:
    before = snapshot(obj, fields)
    for name, value in values.items():
        if name not in fields:
            raise TypeError(f"unknown field {name}")
        setattr(obj, name, value)
    obj.full_clean(validate_constraints=False)
    changes = diff(obj, before, fields)
    if changes:
        obj.save()
        record(by=by, event_type=event, target=obj, org_unit=obj.org_unit, changes=masked(changes, obj))
    return list(changes)


def _archive(by: Actor, obj: models.Model, event: str) -> None:
    if obj.archived_at is not None:
        return
    obj.archived_at = timezone.now()
    obj.save(update_fields=["archived_at", "updated_at"])
    record(
        by=by,
        event_type=event,
        target=obj,
        org_unit=obj.org_unit,
        changes={"archived_at": [None, obj.archived_at]},
    )


# --- residents -------------------------------------------------------------------------------------

RESIDENT_FIELDS = ["org_unit", "name", "id_number", "phone", "gender", "birth_date", "address", "notes"]


def _resident_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "name" in out:
        out["name"] = F.normalize_text(out["name"])
        if not out["name"]:
            raise ValidationError({"name": _("姓名不能为空")})
    if "id_number" in out:
        out["id_number"] = _parse(F.parse_id_number, out["id_number"], "id_number")
        out["birth_date"], out["gender"] = F.id_birth_gender(out["id_number"])
    if "phone" in out:
        out["phone"] = _parse(F.parse_mobile, out["phone"], "phone")
    return out


def _check_resident_unique(id_number: str, exclude: int | None = None) -> None:
    existing = (
        Resident.objects.filter(id_number=id_number, archived_at__isnull=True).exclude(pk=exclude).first()
    )
    if existing is not None:
        raise DuplicateRecord(
            _("该身份号码已登记为服务对象(%(n)s,%(u)s),不能重复登记")
            % {"n": mask_name(existing.name), "u": existing.org_unit.name},
            existing,
            "id_number",
        )


def resident_create(
    *,
    by: Actor,
    org_unit,
    name: str,
    id_number: str,
    phone: str = "",
    address: str = "",
    notes: str = "",
    groups: list[str] | None = None,
) -> Resident:
    values = _resident_values({"name": name, "id_number": id_number, "phone": phone})
    with atomic():
        _check_resident_unique(values["id_number"])
        resident = Resident(org_unit=org_unit, address=F.normalize_text(address), notes=notes, **values)
        _create(by, resident, "ledgers.resident_create", RESIDENT_FIELDS)
        if groups:
            _set_groups(by, resident, groups, record_event=False)
            record(
                by=by,
                event_type="ledgers.resident_groups",
                target=resident,
                org_unit=org_unit,
                changes={"groups": [[], sorted(groups)]},
            )
    return resident


def resident_update(*, by: Actor, resident: Resident, groups: list[str] | None = None, **values) -> Resident:
    values = _resident_values(values)
    with atomic():
        if "id_number" in values:
            _check_resident_unique(values["id_number"], exclude=resident.pk)
        _update(by, resident, "ledgers.resident_update", RESIDENT_FIELDS, values)
        if groups is not None:
            _set_groups(by, resident, groups)
    return resident


def _set_groups(by: Actor, resident: Resident, groups: list[str], record_event: bool = True) -> None:
    before = sorted(resident.memberships.values_list("group", flat=True))
    after = sorted(set(groups))
    if before == after:
        return
    resident.memberships.all().delete()
    ResidentGroup.objects.bulk_create([ResidentGroup(resident=resident, group=g) for g in after])
    if record_event:
        record(
            by=by,
            event_type="ledgers.resident_groups",
            target=resident,
            org_unit=resident.org_unit,
            changes={"groups": [before, after]},
        )


def resident_archive(*, by: Actor, resident: Resident) -> None:
    with atomic():
        _archive(by, resident, "ledgers.resident_archive")


HEALTH_FIELDS = [
    "blood_type",
    "chronic_conditions",
    "disability",
    "allergies",
    "family_doctor",
    "last_checkup",
    "notes",
]


def health_archive_save(*, by: Actor, resident: Resident, **values) -> HealthArchive:
    with atomic():
        archive, created = HealthArchive.objects.get_or_create(resident=resident)
        before = snapshot(archive, HEALTH_FIELDS)
        for name, value in values.items():
            if name not in HEALTH_FIELDS:
                raise TypeError(f"unknown field {name}")
            setattr(archive, name, value)
        archive.full_clean()
        archive.save()
        changed = sorted(diff(archive, before, HEALTH_FIELDS))
        # The content is sensitive health data: the event names the fields, not their values.
        record(
            by=by,
            event_type="ledgers.health_update",
            target=resident,
            org_unit=resident.org_unit,
            changes={"fields": changed, "created": created},
        )
    return archive


def health_archive_read(*, by: Actor, resident: Resident) -> HealthArchive | None:
    """The health archive, recording that ``by`` read it (callers check Cap.REVEAL_PERSONAL)."""
    archive = HealthArchive.objects.filter(resident=resident).first()
    record(
        by=by,
        event_type="ledgers.health_read",
        target=resident,
        org_unit=resident.org_unit,
        changes={"exists": archive is not None},
    )
    return archive


def agreement_create(
    *,
    by: Actor,
    resident: Resident,
    provider: str,
    services: str,
    signed_on: dt.date,
    start_date: dt.date,
    end_date: dt.date | None = None,
    notes: str = "",
) -> ServiceAgreement:
    if end_date and end_date < start_date:
        raise ValidationError({"end_date": _("结束日期不能早于开始日期")})
    with atomic():
        agreement = ServiceAgreement(
            resident=resident,
            provider=provider,
            services=services,
            signed_on=signed_on,
            start_date=start_date,
            end_date=end_date,
            notes=notes,
        )
        agreement.full_clean()
        agreement.save()
        record(
            by=by,
            event_type="ledgers.agreement_create",
            target=resident,
            org_unit=resident.org_unit,
            changes={
                "agreement": agreement.pk,
                "provider": provider,
                "services": services,
                "start_date": start_date,
                "end_date": end_date,
            },
        )
    return agreement


# --- revealing personal values ------------------------------------------------------------------------

REVEALABLE = PERSONAL_FIELDS


def reveal(*, by: Actor, obj: models.Model, field: str) -> str:
    """The full value of one personal field; the caller has checked Cap.REVEAL_PERSONAL."""
    if field not in REVEALABLE.get(obj._meta.label_lower, ()):
        raise ValueError(field)
    record(by=by, event_type="ledgers.reveal", target=obj, org_unit=obj.org_unit, changes={"field": field})
    return getattr(obj, field)


def export_reveal_recorded(*, by: Actor, ledger: str, unit, count: int, filters: str) -> None:
    record(
        by=by,
        event_type="ledgers.export_full",
        target_type=ledger,
        org_unit=unit,
        changes={"count": count, "filters": filters},
    )


# --- buildings ---------------------------------------------------------------------------------------

BUILDING_FIELDS = ["org_unit", "name", "status", "address", "floor_area", "notes"]


def _check_building_unique(name: str, exclude: int | None = None) -> None:
    existing = Building.objects.filter(name=name, archived_at__isnull=True).exclude(pk=exclude).first()
    if existing:
        raise DuplicateRecord(_("楼宇“%(n)s”已在台账中") % {"n": name}, existing, "name")


def building_create(
    *,
    by: Actor,
    org_unit,
    name: str,
    status: str,
    address: str = "",
    floor_area: Decimal | None = None,
    notes: str = "",
) -> Building:
    name = F.normalize_text(name)
    with atomic():
        _check_building_unique(name)
        building = Building(
            org_unit=org_unit, name=name, status=status, address=address, floor_area=floor_area, notes=notes
        )
        return _create(by, building, "ledgers.building_create", BUILDING_FIELDS)


def building_update(*, by: Actor, building: Building, **values) -> Building:
    with atomic():
        if "name" in values:
            values["name"] = F.normalize_text(values["name"])
            _check_building_unique(values["name"], exclude=building.pk)
        _update(by, building, "ledgers.building_update", BUILDING_FIELDS, values)
    return building


def building_archive(*, by: Actor, building: Building) -> None:
    with atomic():
        _archive(by, building, "ledgers.building_archive")


# --- enterprises ------------------------------------------------------------------------------------

ENTERPRISE_FIELDS = [
    "org_unit",
    "name",
    "credit_code",
    "credit_code_override",
    "credit_code_override_reason",
    "kind",
    "sector",
    "online_direct_report",
    "above_scale",
    "above_quota",
    "building",
    "address",
    "contact_name",
    "contact_phone",
    "notes",
]


def _enterprise_values(values: dict[str, Any], exclude: int | None = None) -> dict[str, Any]:
    out = dict(values)
    if "credit_code" in out:
        out["credit_code"] = _parse(F.parse_credit_code, out["credit_code"], "credit_code")
        problem = F.credit_code_problem(out["credit_code"])
        reason = F.normalize_text(out.get("credit_code_override_reason", ""))
        if problem and not reason:
            raise ValidationError({"credit_code": problem + _(";如确属有效的早期代码,请填写豁免理由")})
        out["credit_code_override"] = bool(problem)
        out["credit_code_override_reason"] = reason if problem else ""
        existing = (
            Enterprise.objects.filter(credit_code=out["credit_code"], archived_at__isnull=True)
            .exclude(pk=exclude)
            .first()
        )
        if existing:
            raise DuplicateRecord(
                _("该信用代码已登记(%(n)s)") % {"n": existing.name}, existing, "credit_code"
            )
    if out.get("contact_phone"):
        out["contact_phone"] = F.halfwidth(F.normalize_text(out["contact_phone"]))
    return out


def _record_override(by: Actor, enterprise: Enterprise) -> None:
    record(
        by=by,
        event_type="ledgers.enterprise_code_override",
        target=enterprise,
        org_unit=enterprise.org_unit,
        changes={"credit_code": enterprise.credit_code, "reason": enterprise.credit_code_override_reason},
        detail=F.credit_code_problem(enterprise.credit_code),
    )


def enterprise_create(*, by: Actor, org_unit, **values) -> Enterprise:
    with atomic():
        values = _enterprise_values(values)
        enterprise = Enterprise(org_unit=org_unit, **values)
        _create(by, enterprise, "ledgers.enterprise_create", ENTERPRISE_FIELDS)
        if enterprise.credit_code_override:
            _record_override(by, enterprise)
    return enterprise


def enterprise_update(*, by: Actor, enterprise: Enterprise, **values) -> Enterprise:
    with atomic():
        if "credit_code" in values:
            values.setdefault("credit_code_override_reason", enterprise.credit_code_override_reason)
        values = _enterprise_values(values, exclude=enterprise.pk)
        changed = _update(by, enterprise, "ledgers.enterprise_update", ENTERPRISE_FIELDS, values)
        if enterprise.credit_code_override and {"credit_code", "credit_code_override_reason"} & set(changed):
            _record_override(by, enterprise)
    return enterprise


def enterprise_archive(*, by: Actor, enterprise: Enterprise) -> None:
    with atomic():
        _archive(by, enterprise, "ledgers.enterprise_archive")


# --- projects ---------------------------------------------------------------------------------------

PROJECT_FIELDS = ["org_unit", "name", "kind", "year", "planned_investment", "owner", "notes"]


def _check_project_unique(name: str, year: int, exclude: int | None = None) -> None:
    existing = (
        Project.objects.filter(name=name, year=year, archived_at__isnull=True).exclude(pk=exclude).first()
    )
    if existing:
        raise DuplicateRecord(_("%(y)s 年度已有项目“%(n)s”") % {"y": year, "n": name}, existing, "name")


def project_create(
    *,
    by: Actor,
    org_unit,
    name: str,
    kind: str,
    year: int,
    planned_investment: Decimal,
    owner: str = "",
    notes: str = "",
) -> Project:
    name = F.normalize_text(name)
    with atomic():
        _check_project_unique(name, year)
        project = Project(
            org_unit=org_unit,
            name=name,
            kind=kind,
            year=year,
            planned_investment=planned_investment,
            owner=owner,
            notes=notes,
        )
        return _create(by, project, "ledgers.project_create", PROJECT_FIELDS)


def project_update(*, by: Actor, project: Project, **values) -> Project:
    with atomic():
        name = F.normalize_text(values.get("name", project.name))
        _check_project_unique(name, values.get("year", project.year), exclude=project.pk)
        _update(by, project, "ledgers.project_update", PROJECT_FIELDS, values)
    return project


def project_archive(*, by: Actor, project: Project) -> None:
    with atomic():
        _archive(by, project, "ledgers.project_archive")


def investment_set(*, by: Actor, project: Project, month: dt.date, amount: Decimal) -> ProjectInvestment:
    month = month.replace(day=1)
    if amount < 0:
        raise ValidationError({"amount": _("完成投资不能为负数")})
    with atomic():
        entry = ProjectInvestment.objects.filter(project=project, month=month).first()
        old = entry.amount if entry else None
        if entry is None:
            entry = ProjectInvestment.objects.create(project=project, month=month, amount=amount)
        else:
            entry.amount = amount
            entry.save(update_fields=["amount"])
        record(
            by=by,
            event_type="ledgers.project_investment",
            target=project,
            org_unit=project.org_unit,
            changes={"month": month.strftime("%Y-%m"), "amount": [old, amount]},
        )
    return entry


def milestone_set(
    *,
    by: Actor,
    project: Project,
    kind: str,
    planned_date: dt.date | None = None,
    actual_date: dt.date | None = None,
) -> ProjectMilestone:
    with atomic():
        milestone, _created = ProjectMilestone.objects.get_or_create(project=project, kind=kind)
        before = snapshot(milestone, ["planned_date", "actual_date"])
        milestone.planned_date, milestone.actual_date = planned_date, actual_date
        milestone.full_clean()
        milestone.save()
        record(
            by=by,
            event_type="ledgers.project_milestone",
            target=project,
            org_unit=project.org_unit,
            changes={"kind": kind, **diff(milestone, before, ["planned_date", "actual_date"])},
        )
    return milestone


# --- relocation -------------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = [
    "org_unit",
    "plot",
    "household_no",
    "head_name",
    "id_number",
    "phone",
    "address",
    "certificate_type",
    "area",
    "compensation_method",
    "stage",
    "blockers",
]


def plot_create(*, by: Actor, org_unit, code: str, name: str = "", notes: str = "") -> RelocationPlot:
    code = F.code_text(code)
    with atomic():
        existing = RelocationPlot.objects.filter(code=code, archived_at__isnull=True).first()
        if existing:
            raise DuplicateRecord(_("地块“%(c)s”已存在") % {"c": code}, existing, "code")
        plot = RelocationPlot(org_unit=org_unit, code=code, name=name, notes=notes)
        return _create(by, plot, "ledgers.plot_create", ["org_unit", "code", "name", "notes"])


def _household_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if out.get("id_number"):
        out["id_number"] = _parse(F.parse_id_number, out["id_number"], "id_number")
    if "phone" in out:
        out["phone"] = _parse(F.parse_mobile, out["phone"], "phone")
    if "household_no" in out:
        out["household_no"] = F.code_text(out["household_no"])
    return out


def _check_household_unique(plot, number: str, exclude: int | None = None) -> None:
    existing = (
        RelocationHousehold.objects.filter(plot=plot, household_no=number, archived_at__isnull=True)
        .exclude(pk=exclude)
        .first()
    )
    if existing:
        raise DuplicateRecord(
            _("地块 %(p)s 已有户号 %(n)s") % {"p": plot.code, "n": number}, existing, "household_no"
        )


def household_create(*, by: Actor, org_unit, plot: RelocationPlot, **values) -> RelocationHousehold:
    values = _household_values(values)
    with atomic():
        _check_household_unique(plot, values.get("household_no", ""))
        household = RelocationHousehold(org_unit=org_unit, plot=plot, **values)
        return _create(by, household, "ledgers.household_create", HOUSEHOLD_FIELDS)


def household_update(*, by: Actor, household: RelocationHousehold, **values) -> RelocationHousehold:
    values = _household_values(values)
    with atomic():
        _check_household_unique(
            values.get("plot", household.plot),
            values.get("household_no", household.household_no),
            exclude=household.pk,
        )
        _update(by, household, "ledgers.household_update", HOUSEHOLD_FIELDS, values)
    return household


def household_archive(*, by: Actor, household: RelocationHousehold) -> None:
    with atomic():
        _archive(by, household, "ledgers.household_archive")


# --- integrity archives --------------------------------------------------------------------------------


def integrity_archive_create(*, by: Actor, cadre, org_unit, position: str = "") -> IntegrityArchive:
    with atomic():
        if IntegrityArchive.objects.filter(cadre=cadre).exists():
            raise ValidationError({"cadre": _("该干部已有廉政档案(一人一档)")})
        archive = IntegrityArchive.objects.create(cadre=cadre, org_unit=org_unit, position=position)
        record(
            by=by,
            event_type="ledgers.integrity_archive_create",
            target=archive,
            org_unit=org_unit,
            changes={"cadre": cadre.pk, "position": position},
        )
    return archive


def integrity_entry_create(
    *,
    by: Actor,
    archive: IntegrityArchive,
    kind: str,
    date: dt.date,
    title: str,
    content: str = "",
    document=None,
) -> IntegrityEntry:
    if date > timezone.localdate():
        raise ValidationError({"date": _("日期不能晚于今天")})
    with atomic():
        entry = IntegrityEntry(archive=archive, kind=kind, date=date, title=title, content=content)
        if document:
            entry.document = document
        entry.full_clean()
        entry.save()
        # The entry's content stays in the archive; the event names what was added, not what it says.
        record(
            by=by,
            event_type="ledgers.integrity_entry_create",
            target=archive,
            org_unit=archive.org_unit,
            changes={"entry": entry.pk, "kind": kind, "date": date, "document": bool(document)},
        )
    return entry


def integrity_export_recorded(*, by: Actor, unit, count: int) -> None:
    record(
        by=by,
        event_type="ledgers.integrity_export",
        target_type="ledgers.integrityarchive",
        org_unit=unit,
        changes={"count": count},
    )
