"""Reads of the ledgers: scoped querysets, list filters, change history, integrity scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import grants, scope_q, scoped
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.audit.models import AuditEvent
from jiedao.core.models import OrgUnit

from .models import (
    Building,
    BuildingStatus,
    CertificateType,
    CompensationMethod,
    Enterprise,
    EnterpriseKind,
    IntegrityArchive,
    PopulationGroup,
    Project,
    ProjectKind,
    RelocationHousehold,
    RelocationStage,
    Resident,
    Sector,
)
from .services import PERSONAL_FIELDS

# How the ledger events read in the change history (the audit log may import this map too).
LEDGER_EVENT_LABELS = {
    "ledgers.resident_create": "登记服务对象",
    "ledgers.resident_update": "修改服务对象",
    "ledgers.resident_archive": "归档服务对象",
    "ledgers.resident_groups": "调整人群类别",
    "ledgers.health_update": "更新健康档案",
    "ledgers.health_read": "查看健康档案",
    "ledgers.agreement_create": "签订服务协议",
    "ledgers.reveal": "查看完整个人信息",
    "ledgers.building_create": "新建楼宇",
    "ledgers.building_update": "修改楼宇",
    "ledgers.building_archive": "归档楼宇",
    "ledgers.enterprise_create": "新建企业",
    "ledgers.enterprise_update": "修改企业",
    "ledgers.enterprise_archive": "归档企业",
    "ledgers.enterprise_code_override": "信用代码校验豁免",
    "ledgers.project_create": "新建项目",
    "ledgers.project_update": "修改项目",
    "ledgers.project_archive": "归档项目",
    "ledgers.project_investment": "填报月度投资",
    "ledgers.project_milestone": "更新项目节点",
    "ledgers.plot_create": "新建征收地块",
    "ledgers.household_create": "登记征收户",
    "ledgers.household_update": "修改征收户",
    "ledgers.household_archive": "归档征收户",
    "ledgers.integrity_archive_create": "建立廉政档案",
    "ledgers.integrity_entry_create": "登记廉政档案条目",
    "ledgers.integrity_export": "导出廉政档案",
    "ledgers.export_full": "导出完整个人信息",
}
for _kind in ("resident", "building", "enterprise", "project", "household"):
    LEDGER_EVENT_LABELS[f"ledgers.{_kind}_import"] = "批量导入"
    LEDGER_EVENT_LABELS[f"ledgers.{_kind}_import_batch"] = "批量导入(分批)"


def history(obj, limit: int = 100) -> list[AuditEvent]:
    """The audit events about one record, newest first: those recorded against it, and the import
    batches that created or updated it (a batch event lists its record ids). Personal values
    were masked when recorded."""
    label = obj._meta.label_lower
    own = list(
        AuditEvent.objects.filter(target_type=label, target_id=str(obj.pk))
        .select_related("actor")
        .order_by("-seq")[:limit]
    )
    batches = (
        AuditEvent.objects.filter(target_type=label, event_type__endswith="_import_batch")
        .select_related("actor")
        .order_by("-seq")[:500]
    )
    own += [e for e in batches if obj.pk in (e.changes or {}).get("ids", ())]
    return sorted(own, key=lambda e: -e.seq)[:limit]


def event_label(code: str) -> str:
    return LEDGER_EVENT_LABELS.get(code, code)


@dataclass(frozen=True)
class Filter:
    param: str
    label: Any
    choices: list[tuple[str, Any]]
    apply: Any  # (queryset, value) -> queryset


def _choice_filter(param, label, choices, lookup) -> Filter:
    return Filter(param, label, list(choices), lambda qs, v: qs.filter(**{lookup: v}))


def _bool_filter(param, label, lookup) -> Filter:
    return Filter(
        param, label, [("1", _("是")), ("0", _("否"))], lambda qs, v: qs.filter(**{lookup: v == "1"})
    )


def _elderly(qs, value):
    today = timezone.localdate()
    try:
        cutoff = today.replace(year=today.year - int(value))
    except ValueError:  # 29 February
        cutoff = today.replace(year=today.year - int(value), day=28)
    return qs.filter(birth_date__lte=cutoff)


@dataclass(frozen=True)
class LedgerQuery:
    model: type
    search: tuple[str, ...]
    filters: list[Filter] = field(default_factory=list)
    related: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()


QUERIES: dict[str, LedgerQuery] = {
    "residents": LedgerQuery(
        Resident,
        ("name", "id_number", "phone", "address"),
        [
            _choice_filter("group", _("人群类别"), PopulationGroup.choices, "memberships__group"),
            Filter("age", _("年龄"), [("60", _("60岁以上")), ("80", _("80岁以上"))], _elderly),
        ],
        ("org_unit",),
        ("memberships",),
    ),
    "enterprises": LedgerQuery(
        Enterprise,
        ("name", "credit_code", "address"),
        [
            _choice_filter("kind", _("类型"), EnterpriseKind.choices, "kind"),
            _choice_filter("sector", _("行业"), Sector.choices, "sector"),
            _bool_filter("direct", _("联网直报"), "online_direct_report"),
            _bool_filter("scale", _("规上"), "above_scale"),
            _bool_filter("quota", _("限上"), "above_quota"),
        ],
        ("org_unit", "building"),
    ),
    "buildings": LedgerQuery(
        Building,
        ("name", "address"),
        [_choice_filter("status", _("状态"), BuildingStatus.choices, "status")],
        ("org_unit",),
    ),
    "projects": LedgerQuery(
        Project,
        ("name", "owner"),
        [
            _choice_filter("kind", _("类型"), ProjectKind.choices, "kind"),
            Filter("year", _("年度"), [], lambda qs, v: qs.filter(year=int(v)) if v.isdigit() else qs),
        ],
        ("org_unit",),
        ("investments",),
    ),
    "households": LedgerQuery(
        RelocationHousehold,
        ("household_no", "head_name", "address", "plot__code", "blockers"),
        [
            _choice_filter("stage", _("阶段"), RelocationStage.choices, "stage"),
            _choice_filter("certificate", _("产权证类型"), CertificateType.choices, "certificate_type"),
            _choice_filter("compensation", _("补偿方式"), CompensationMethod.choices, "compensation_method"),
        ],
        ("org_unit", "plot"),
    ),
}


def ledger_queryset(key: str, user, cap: str = Cap.BUSINESS_READ, archived: bool = False) -> QuerySet:
    query = QUERIES[key]
    qs = query.model.objects.select_related(*query.related).prefetch_related(*query.prefetch)
    qs = qs.filter(archived_at__isnull=not archived)
    return scoped(qs, user, cap)


def apply_filters(key: str, qs: QuerySet, params, user) -> tuple[QuerySet, dict[str, str]]:
    """Filter a ledger's queryset by the request's parameters; returns it and the values used.

    The search looks in a record's personal fields (name, ID number, phone) only where ``user``
    may see them (``Cap.REVEAL_PERSONAL``): elsewhere they are masked, and a search that matched
    them would tell the hidden digits one query at a time."""
    query = QUERIES[key]
    used: dict[str, str] = {}
    q = (params.get("q") or "").strip()[:100]
    if q:
        personal = PERSONAL_FIELDS.get(query.model._meta.label_lower, set())
        cond, hidden = Q(), Q()
        for name in query.search:
            if name in personal:
                hidden |= Q(**{f"{name}__icontains": q})
            else:
                cond |= Q(**{f"{name}__icontains": q})
        if hidden:
            cond |= hidden & scope_q(user, Cap.REVEAL_PERSONAL)
        qs = qs.filter(cond)
        used["q"] = q
    for flt in query.filters:
        value = (params.get(flt.param) or "").strip()
        if value and (not flt.choices or value in {c for c, _l in flt.choices}):
            qs = flt.apply(qs, value)
            used[flt.param] = value
    unit = (params.get("unit") or "").strip()
    if unit.isdigit():
        target = OrgUnit.objects.filter(pk=int(unit)).first()
        if target is not None:
            qs = qs.filter(org_unit__path__startswith=target.path)
            used["unit"] = unit
    return qs.distinct() if "group" in used else qs, used


def describe(key: str, used: dict[str, str]) -> str:
    parts = []
    for flt in QUERIES[key].filters:
        if flt.param in used:
            label = dict(flt.choices).get(used[flt.param], used[flt.param])
            parts.append(f"{flt.label}={label}")
    if "q" in used:
        parts.append(f"关键字={used['q']}")
    return ";".join(parts) or "全部"


# --- integrity archives ---------------------------------------------------------------------------------


def integrity_paths(user) -> list[str]:
    """Where ``user`` keeps integrity archives: the whole street of each unit where the user holds
    Cap.INTEGRITY (纪工委 is a department, but its remit is every cadre of its street)."""
    unit_ids = [unit_id for role, _path, unit_id in grants(user) if Cap.INTEGRITY in GRANTS.get(role, ())]
    paths = set()
    for unit in OrgUnit.objects.filter(pk__in=unit_ids):
        street = unit.street or unit
        paths.add(street.path)
    return sorted(paths)


def integrity_archives(user) -> QuerySet[IntegrityArchive]:
    paths = integrity_paths(user)
    if not paths:
        return IntegrityArchive.objects.none()
    cond = Q()
    for path in paths:
        cond |= Q(org_unit__path__startswith=path)
    return IntegrityArchive.objects.filter(cond).select_related("cadre", "org_unit")
