"""Each ledger's columns for the import/export engine (jiedao.ledgers.engine).

Personal values (names, ID numbers, phones) are exported masked; ``reveal`` gives the full value
for the audited full export (Cap.REVEAL_PERSONAL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jiedao.core.masking import mask_birth_date, mask_id, mask_name, mask_phone
from jiedao.core.models import OrgUnit

from . import fields as F
from .engine import Column, Context, Current, LedgerSpec, raw_insert
from .models import (
    Building,
    BuildingStatus,
    CertificateType,
    CompensationMethod,
    Enterprise,
    EnterpriseKind,
    MilestoneKind,
    PopulationGroup,
    Project,
    ProjectInvestment,
    ProjectKind,
    ProjectMilestone,
    RelocationHousehold,
    RelocationPlot,
    RelocationStage,
    Resident,
    ResidentGroup,
    Sector,
)


def _labels(choices) -> list[str]:
    return [str(label) for _v, label in choices.choices]


def _text(max_length: int):
    def parse(value: Any, context: Context) -> str:
        text = F.normalize_text(value)
        if len(text) > max_length:
            raise ValueError(_("不能超过 %(n)s 个字") % {"n": max_length})
        return text

    return parse


def _mapping(choices, context: Context) -> dict[str, str]:
    key = ("_choices", choices)
    mapping = context.lookups.get(key)
    if mapping is None:
        mapping = context.lookups[key] = F.choice_map(choices.choices)
    return mapping


def _choice(choices):
    return lambda value, context: F.parse_choice(value, choices, _mapping(choices, context))


def _date(value, context):
    return F.parse_date(value)


def _bool(value, context):
    return F.parse_bool(value)


def _unit(value: Any, context: Context) -> OrgUnit:
    """所属单位: a unit inside the import's target unit, by name or region code."""
    text = F.normalize_text(value)
    units = context.lookups.get("_units")
    if units is None:
        units = context.lookups["_units"] = _units_under(context.unit)
    unit = units.get(F.halfwidth(text))
    if unit is None:
        raise ValueError(
            _("“%(v)s”不是“%(u)s”下的单位(填社区、网格名称或区划代码)") % {"v": text, "u": context.unit.name}
        )
    return unit


def _units_under(root: OrgUnit) -> dict[str, OrgUnit]:
    units = {}
    for unit in OrgUnit.objects.filter(path__startswith=root.path, is_active=True).order_by("-path"):
        units[unit.name] = unit
        if unit.code:
            units[unit.code] = unit
    return units


def _phone(value: Any, context: Context) -> str:
    return F.parse_mobile(value)


def _landline_or_mobile(value: Any, context: Context) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = F.halfwidth(F.normalize_text(value)).replace(" ", "")
    if not text:
        return ""
    digits = text.replace("-", "")
    if digits.isdigit() and len(digits) == 11 and digits.startswith("1"):
        return F.parse_mobile(digits)
    if not (digits.isdigit() and 7 <= len(digits) <= 13):
        raise ValueError(_("电话号码格式不对(手机 11 位,座机如 0791-86123456),收到“%(v)s”") % {"v": text})
    return text


def _unit_name(obj) -> str:
    return obj.org_unit.name


UNIT_COLUMN = dict(
    key="org_unit",
    header=gettext_lazy("所属单位"),
    aliases=("所属社区", "社区", "网格", "所属网格", "单位"),
    export=_unit_name,
    width=18,
    note=gettext_lazy("社区或网格名称,或区划代码;空则为导入时选择的单位"),
)


# --- residents ------------------------------------------------------------------------------------


def _id_number(value, context):
    return F.parse_id_number(value)


def _groups(value, context):
    return F.parse_multi_choice(value, None, _mapping(PopulationGroup, context))


class ResidentSpec(LedgerSpec):
    key = "residents"
    label = gettext_lazy("服务对象")
    model = Resident
    key_columns = ("id_number",)
    event_prefix = "ledgers.resident"
    columns = [
        Column(
            "name",
            gettext_lazy("姓名"),
            _text(50),
            required=True,
            aliases=("名字", "居民姓名", "服务对象姓名"),
            export=lambda o: mask_name(o.name),
            reveal=lambda o: o.name,
            masker=mask_name,
            width=10,
        ),
        Column(
            "id_number",
            gettext_lazy("公民身份号码"),
            _id_number,
            required=True,
            aliases=("身份证号", "身份证号码", "身份号码", "证件号码", "身份证"),
            text=True,
            width=22,
            export=lambda o: mask_id(o.id_number),
            reveal=lambda o: o.id_number,
            masker=mask_id,
            note=gettext_lazy("18 位;请保持文本格式,勿转成数字"),
        ),
        Column("gender", gettext_lazy("性别"), export=lambda o: o.get_gender_display(), width=6),
        Column("birth_date", gettext_lazy("出生日期"), export=lambda o: mask_birth_date(o.birth_date),
               reveal=lambda o: o.birth_date, width=12),
        Column(
            "phone",
            gettext_lazy("手机号"),
            _phone,
            aliases=("手机", "手机号码", "联系电话", "电话"),
            text=True,
            export=lambda o: mask_phone(o.phone),
            reveal=lambda o: o.phone,
            masker=mask_phone,
            width=14,
        ),
        Column(
            "address",
            gettext_lazy("住址"),
            _text(200),
            aliases=("地址", "家庭住址", "现住址", "居住地址"),
            export=lambda o: o.address,
            width=30,
        ),
        Column(
            "groups",
            gettext_lazy("人群类别"),
            _groups,
            aliases=("人群分类", "类别", "人群"),
            choices=_labels(PopulationGroup),
            multiple=True,
            width=20,
            blank=None,
            export=lambda o: "、".join(m.get_group_display() for m in o.memberships.all()),
            masker=lambda v: "、".join(str(PopulationGroup(g).label) for g in v or []),
            note=gettext_lazy("可填多个,用“、”分隔"),
        ),
        Column(**UNIT_COLUMN, parse=_unit),
        Column("notes", gettext_lazy("备注"), _text(1000), export=lambda o: o.notes, width=20),
    ]

    def field_values(self, values, present):
        out = super().field_values(values, present)
        out.pop("gender", None)
        out.pop("birth_date", None)
        if "id_number" in out:
            out["birth_date"], out["gender"] = F.id_birth_gender(out["id_number"])
        return out

    fast_create = True
    match_chunk = 5000

    def fast_insert(self, values, present, now):
        present = present | {"org_unit"}
        first = values[0].keys()
        rows, columns = None, None
        if all(v.keys() == first for v in values):
            # The check gives every row the same keys: gather the fields column by column, with
            # the same fields (and derived birth date and gender) field_values gives per row.
            columns = {}
            for name in self.field_values(values[0], present):
                if name == "org_unit":
                    columns["org_unit_id"] = [v["org_unit"].pk for v in values]
                elif name not in ("birth_date", "gender"):
                    columns[name] = [v[name] for v in values]
            if "id_number" in columns:
                derived = [F.id_birth_gender(number) for number in columns["id_number"]]
                columns["birth_date"] = [birth for birth, _gender in derived]
                columns["gender"] = [gender for _birth, gender in derived]
            columns["created_at"] = columns["updated_at"] = [now] * len(values)
        else:
            rows = []
            for v in values:
                row = self.field_values(v, present)
                row["org_unit_id"] = row.pop("org_unit").pk
                row["created_at"] = row["updated_at"] = now
                rows.append(row)
        pks = raw_insert(Resident, rows, columns=columns, returning="id_number")
        if pks is None:  # a database that cannot return rows from an INSERT: look them up
            numbers = columns["id_number"] if columns is not None else [r["id_number"] for r in rows]
            ids = {}
            for start in range(0, len(numbers), 500):
                ids.update(
                    Resident.objects.filter(
                        id_number__in=numbers[start : start + 500], archived_at__isnull=True
                    ).values_list("id_number", "pk")
                )
            pks = [ids[n] for n in numbers]
        if "groups" in present:
            raw_insert(
                ResidentGroup,
                [
                    {"resident_id": pk, "group": g}
                    for pk, v in zip(pks, values, strict=True)
                    for g in v.get("groups") or []
                ],
            )
        return pks

    def find_existing(self, keys):
        numbers = [k[0] for k in keys]
        found = (
            Resident.objects.filter(id_number__in=numbers, archived_at__isnull=True)
            .select_related("org_unit")
            .prefetch_related("memberships")
        )
        return {(r.id_number,): r for r in found}

    def find_current(self, keys):
        """Stored values of the matched residents and their sorted groups: two queries."""
        rows = Resident.objects.filter(
            id_number__in=[k[0] for k in keys], archived_at__isnull=True
        ).values_list("pk", *self.current_columns())
        id_at = self.current_fields["id_number"]
        unit_at = self.current_fields["org_unit"]
        current = {row[0]: Current(row[0], row[1 + unit_at], row[1:], []) for row in rows}
        if current:
            # Plain SQL: the ORM would prepare each of the thousands of integer parameters.
            ops = connection.ops
            table, fk, group = (
                ops.quote_name(name)
                for name in (
                    ResidentGroup._meta.db_table,
                    ResidentGroup._meta.get_field("resident").column,
                    ResidentGroup._meta.get_field("group").column,
                )
            )
            pks = list(current)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {fk}, {group} FROM {table} WHERE {fk} IN ({', '.join(['%s'] * len(pks))})", pks
                )
                for pk, code in cursor.fetchall():
                    current[pk].related.append(code)
        for found in current.values():
            found.related.sort()
        return {(found.row[id_at],): found for found in current.values()}

    def related_differs(self, current, values, present):
        return "groups" in present and sorted(values.get("groups") or []) != current.related

    def related_changes(self, obj, values, present):
        if "groups" in present and sorted(values.get("groups") or []) != sorted(obj.group_codes):
            return ["groups"]
        return []

    def write_related(self, pairs, present, created):
        if "groups" not in present:
            return
        if not created:
            ResidentGroup.objects.filter(resident__in=[o for o, _v in pairs]).delete()
        ResidentGroup.objects.bulk_create(
            [ResidentGroup(resident=o, group=g) for o, v in pairs for g in v.get("groups") or []],
            batch_size=2000,
        )

    def export_queryset(self, queryset):
        return queryset.select_related("org_unit").prefetch_related("memberships")


# --- buildings --------------------------------------------------------------------------------------


class BuildingSpec(LedgerSpec):
    key = "buildings"
    label = gettext_lazy("楼宇")
    model = Building
    key_columns = ("name",)
    event_prefix = "ledgers.building"
    columns = [
        Column(
            "name",
            gettext_lazy("楼宇名称"),
            _text(100),
            required=True,
            aliases=("名称", "楼宇"),
            export=lambda o: o.name,
            width=20,
        ),
        Column(
            "status",
            gettext_lazy("状态"),
            _choice(BuildingStatus),
            required=True,
            aliases=("楼宇状态", "建设状态"),
            choices=_labels(BuildingStatus),
            export=lambda o: o.get_status_display(),
            masker=lambda v: str(BuildingStatus(v).label),
        ),
        Column(
            "address",
            gettext_lazy("地址"),
            _text(200),
            aliases=("楼宇地址", "坐落"),
            export=lambda o: o.address,
            width=30,
        ),
        Column(
            "floor_area",
            gettext_lazy("建筑面积(平方米)"),
            lambda v, c: F.parse_decimal(v, max_digits=12),
            aliases=("建筑面积", "面积"),
            export=lambda o: o.floor_area,
            width=16,
            blank=None,
        ),
        Column("tenants", gettext_lazy("入驻企业数"), export=lambda o: o.tenant_count, width=12),
        Column(**UNIT_COLUMN, parse=_unit),
        Column("notes", gettext_lazy("备注"), _text(1000), export=lambda o: o.notes, width=20),
    ]

    def find_existing(self, keys):
        found = Building.objects.filter(name__in=[k[0] for k in keys], archived_at__isnull=True)
        return {(b.name,): b for b in found.select_related("org_unit")}

    def export_queryset(self, queryset):
        from django.db.models import Count

        return queryset.select_related("org_unit").annotate(
            tenant_count=Count("tenants", filter=Q(tenants__archived_at__isnull=True))
        )


# --- enterprises ------------------------------------------------------------------------------------


def _building(value, context):
    text = F.normalize_text(value)
    buildings = context.lookups.get("_buildings")
    if buildings is None:
        buildings = context.lookups["_buildings"] = {
            b.name: b for b in Building.objects.filter(archived_at__isnull=True)
        }
    building = buildings.get(text)
    if building is None:
        raise ValueError(_("楼宇“%(v)s”不在楼宇台账中(请先录入楼宇)") % {"v": text})
    return building


class EnterpriseSpec(LedgerSpec):
    key = "enterprises"
    label = gettext_lazy("企业")
    model = Enterprise
    key_columns = ("credit_code",)
    event_prefix = "ledgers.enterprise"
    columns = [
        Column(
            "name",
            gettext_lazy("企业名称"),
            _text(150),
            required=True,
            aliases=("名称", "市场主体名称", "单位名称"),
            export=lambda o: o.name,
            width=28,
        ),
        Column(
            "credit_code",
            gettext_lazy("统一社会信用代码"),
            lambda v, c: F.parse_credit_code(v),
            required=True,
            aliases=("信用代码", "社会信用代码", "统一代码"),
            text=True,
            export=lambda o: o.credit_code,
            width=22,
        ),
        Column(
            "kind",
            gettext_lazy("类型"),
            _choice(EnterpriseKind),
            required=True,
            aliases=("企业类型", "市场主体类型"),
            choices=_labels(EnterpriseKind),
            export=lambda o: o.get_kind_display(),
            masker=lambda v: str(EnterpriseKind(v).label),
        ),
        Column(
            "sector",
            gettext_lazy("行业"),
            _choice(Sector),
            required=True,
            aliases=("所属行业", "行业类别"),
            choices=_labels(Sector),
            export=lambda o: o.get_sector_display(),
            masker=lambda v: str(Sector(v).label),
        ),
        Column(
            "online_direct_report",
            gettext_lazy("联网直报"),
            _bool,
            choices=["是", "否"],
            blank=False,
            export=lambda o: _("是") if o.online_direct_report else _("否"),
            width=10,
        ),
        Column(
            "above_scale",
            gettext_lazy("规上"),
            _bool,
            aliases=("规模以上",),
            choices=["是", "否"],
            blank=False,
            export=lambda o: _("是") if o.above_scale else _("否"),
            width=8,
        ),
        Column(
            "above_quota",
            gettext_lazy("限上"),
            _bool,
            aliases=("限额以上",),
            choices=["是", "否"],
            blank=False,
            export=lambda o: _("是") if o.above_quota else _("否"),
            width=8,
        ),
        Column(
            "building",
            gettext_lazy("所在楼宇"),
            _building,
            aliases=("楼宇",),
            export=lambda o: o.building.name if o.building else "",
            masker=lambda v: getattr(v, "name", ""),
            width=16,
            blank=None,
        ),
        Column(
            "address",
            gettext_lazy("地址"),
            _text(200),
            aliases=("经营地址", "注册地址"),
            export=lambda o: o.address,
            width=28,
        ),
        Column(
            "contact_name",
            gettext_lazy("联系人"),
            _text(50),
            export=lambda o: mask_name(o.contact_name),
            reveal=lambda o: o.contact_name,
            masker=mask_name,
            width=10,
        ),
        Column(
            "contact_phone",
            gettext_lazy("联系电话"),
            _landline_or_mobile,
            aliases=("电话", "手机号"),
            text=True,
            export=lambda o: mask_phone(o.contact_phone),
            reveal=lambda o: o.contact_phone,
            masker=mask_phone,
        ),
        Column(**UNIT_COLUMN, parse=_unit),
        Column(
            "credit_code_override_reason",
            gettext_lazy("信用代码豁免理由"),
            _text(200),
            aliases=("豁免理由",),
            export=lambda o: o.credit_code_override_reason,
            width=20,
            note=gettext_lazy("仅当信用代码未通过校验但确属有效(如早期试点代码)时填写,导入时记入审计日志"),
        ),
        Column("notes", gettext_lazy("备注"), _text(1000), export=lambda o: o.notes, width=20),
    ]

    def row_problems(self, values, present, context):
        problem = F.credit_code_problem(values["credit_code"])
        if problem and not values.get("credit_code_override_reason"):
            return [
                (
                    _("统一社会信用代码"),
                    values["credit_code"],
                    problem + _(";如确属有效的早期代码,请在“信用代码豁免理由”列说明"),
                )
            ]
        return []

    def field_values(self, values, present):
        out = super().field_values(values, present)
        if "credit_code" in out:
            failing = bool(F.credit_code_problem(out["credit_code"]))
            out["credit_code_override"] = failing
            if not failing:
                out["credit_code_override_reason"] = ""
        return out

    def find_existing(self, keys):
        found = Enterprise.objects.filter(credit_code__in=[k[0] for k in keys], archived_at__isnull=True)
        return {(e.credit_code,): e for e in found.select_related("org_unit")}

    def export_queryset(self, queryset):
        return queryset.select_related("org_unit", "building")


# --- projects ---------------------------------------------------------------------------------------

MONTHS = range(1, 13)
MILESTONE_HEADERS = {
    MilestoneKind.STARTED: gettext_lazy("新开工日期"),
    MilestoneKind.TOPPED_OUT: gettext_lazy("封顶日期"),
    MilestoneKind.ACCEPTED: gettext_lazy("竣工验收日期"),
    MilestoneKind.DELIVERED: gettext_lazy("交付日期"),
}


def _money(value, context):
    return F.parse_decimal(value, max_digits=14)


def _milestone_export(kind):
    def get(obj):
        for m in obj.milestones.all():
            if m.kind == kind:
                return m.actual_date
        return None

    return get


def _month_export(month):
    def get(obj):
        for inv in obj.investments.all():
            if inv.month.month == month and inv.month.year == obj.year:
                return inv.amount
        return None

    return get


class ProjectSpec(LedgerSpec):
    key = "projects"
    label = gettext_lazy("项目")
    model = Project
    key_columns = ("name", "year")
    event_prefix = "ledgers.project"
    columns = [
        Column(
            "name",
            gettext_lazy("项目名称"),
            _text(150),
            required=True,
            aliases=("名称", "项目"),
            export=lambda o: o.name,
            width=28,
        ),
        Column(
            "kind",
            gettext_lazy("类型"),
            _choice(ProjectKind),
            required=True,
            aliases=("项目类型",),
            choices=_labels(ProjectKind),
            export=lambda o: o.get_kind_display(),
            masker=lambda v: str(ProjectKind(v).label),
        ),
        Column(
            "year",
            gettext_lazy("年度"),
            lambda v, c: F.parse_int(v, minimum=2000, maximum=2100),
            required=True,
            aliases=("年份",),
            export=lambda o: o.year,
            width=8,
        ),
        Column(
            "planned_investment",
            gettext_lazy("年度计划投资(万元)"),
            _money,
            required=True,
            aliases=("计划投资(万元)", "年度计划投资", "计划投资"),
            export=lambda o: o.planned_investment,
            width=16,
        ),
        Column(
            "owner",
            gettext_lazy("建设单位"),
            _text(150),
            aliases=("业主单位", "责任单位"),
            export=lambda o: o.owner,
            width=20,
        ),
        *[
            Column(f"milestone_{kind}", header, _date, export=_milestone_export(kind), width=13, blank=None)
            for kind, header in MILESTONE_HEADERS.items()
        ],
        *[
            Column(
                f"month_{m}",
                gettext_lazy("%(m)s月完成投资(万元)") % {"m": m},
                _money,
                aliases=(f"{m}月", f"{m}月完成投资"),
                export=_month_export(m),
                width=12,
                blank=None,
            )
            for m in MONTHS
        ],
        Column(
            "completed", gettext_lazy("累计完成投资(万元)"), export=lambda o: o.completed_investment, width=14
        ),
        Column(**UNIT_COLUMN, parse=_unit),
        Column("notes", gettext_lazy("备注"), _text(1000), export=lambda o: o.notes, width=20),
    ]

    def find_existing(self, keys):
        q = Q(pk__in=[])
        for name, year in keys:
            q |= Q(name=name, year=year)
        found = (
            Project.objects.filter(q, archived_at__isnull=True)
            .select_related("org_unit")
            .prefetch_related("milestones", "investments")
        )
        return {(p.name, p.year): p for p in found}

    def _wanted(self, values, present):
        milestones = {
            k: values.get(f"milestone_{k}") for k in MilestoneKind.values if f"milestone_{k}" in present
        }
        months = {m: values.get(f"month_{m}") for m in MONTHS if f"month_{m}" in present}
        return milestones, months

    def related_changes(self, obj, values, present):
        milestones, months = self._wanted(values, present)
        have_m = {m.kind: m.actual_date for m in obj.milestones.all()}
        have_i = {i.month.month: i.amount for i in obj.investments.all() if i.month.year == obj.year}
        changed = []
        if any(have_m.get(k) != v for k, v in milestones.items()):
            changed.append("milestones")
        if any(have_i.get(m) != v for m, v in months.items()):
            changed.append("investments")
        return changed

    def write_related(self, pairs, present, created):
        for obj, values in pairs:
            milestones, months = self._wanted(values, present)
            for kind, day in milestones.items():
                if day is None:
                    ProjectMilestone.objects.filter(
                        project=obj, kind=kind, planned_date__isnull=True
                    ).delete()
                    ProjectMilestone.objects.filter(project=obj, kind=kind).update(actual_date=None)
                else:
                    ProjectMilestone.objects.update_or_create(
                        project=obj, kind=kind, defaults={"actual_date": day}
                    )
            for month, amount in months.items():
                first = dt.date(values["year"], month, 1)
                if amount is None:
                    ProjectInvestment.objects.filter(project=obj, month=first).delete()
                else:
                    ProjectInvestment.objects.update_or_create(
                        project=obj, month=first, defaults={"amount": amount}
                    )

    def export_queryset(self, queryset):
        return queryset.select_related("org_unit").prefetch_related("milestones", "investments")


# --- relocation households ------------------------------------------------------------------------


def _plot(value, context):
    text = F.code_text(value)
    if not text:
        raise ValueError(_("地块编号不能为空"))
    if len(text) > 30:
        raise ValueError(_("地块编号不能超过 30 个字符"))
    return text


def _optional_id(value, context):
    if value in (None, ""):
        return ""
    return F.parse_id_number(value)


class HouseholdSpec(LedgerSpec):
    key = "households"
    label = gettext_lazy("征收户")
    model = RelocationHousehold
    key_columns = ("plot", "household_no")
    event_prefix = "ledgers.household"
    columns = [
        Column(
            "plot",
            gettext_lazy("地块编号"),
            _plot,
            required=True,
            aliases=("地块", "项目地块"),
            export=lambda o: o.plot.code,
            text=True,
            width=14,
            note=gettext_lazy("如 CY203-B07;台账中没有的地块将随导入新建"),
        ),
        Column(
            "household_no",
            gettext_lazy("户号"),
            lambda v, c: F.code_text(v)[:30],
            required=True,
            aliases=("编号", "户编号"),
            text=True,
            export=lambda o: o.household_no,
            width=10,
        ),
        Column(
            "head_name",
            gettext_lazy("户主姓名"),
            _text(50),
            required=True,
            aliases=("户主", "被征收人", "姓名"),
            export=lambda o: mask_name(o.head_name),
            reveal=lambda o: o.head_name,
            masker=mask_name,
            width=10,
        ),
        Column(
            "id_number",
            gettext_lazy("户主身份号码"),
            _optional_id,
            aliases=("身份证号", "身份号码", "公民身份号码"),
            text=True,
            export=lambda o: mask_id(o.id_number),
            reveal=lambda o: o.id_number,
            masker=mask_id,
            width=22,
        ),
        Column(
            "phone",
            gettext_lazy("联系电话"),
            _phone,
            aliases=("手机号", "电话"),
            text=True,
            export=lambda o: mask_phone(o.phone),
            reveal=lambda o: o.phone,
            masker=mask_phone,
        ),
        Column(
            "address",
            gettext_lazy("房屋坐落"),
            _text(200),
            aliases=("地址", "坐落"),
            export=lambda o: o.address,
            width=26,
        ),
        Column(
            "certificate_type",
            gettext_lazy("产权证类型"),
            _choice(CertificateType),
            required=True,
            aliases=("产权类型", "证件类型"),
            choices=_labels(CertificateType),
            export=lambda o: o.get_certificate_type_display(),
            masker=lambda v: str(CertificateType(v).label),
        ),
        Column(
            "area",
            gettext_lazy("面积(平方米)"),
            lambda v, c: F.parse_decimal(v, max_digits=10),
            required=True,
            aliases=("面积", "建筑面积"),
            export=lambda o: o.area,
            width=12,
        ),
        Column(
            "compensation_method",
            gettext_lazy("补偿方式"),
            _choice(CompensationMethod),
            aliases=("安置方式",),
            choices=_labels(CompensationMethod),
            export=lambda o: o.get_compensation_method_display(),
            masker=lambda v: str(CompensationMethod(v).label) if v else "",
        ),
        Column(
            "stage",
            gettext_lazy("阶段"),
            _choice(RelocationStage),
            required=True,
            aliases=("进度", "当前阶段"),
            choices=_labels(RelocationStage),
            export=lambda o: o.get_stage_display(),
            masker=lambda v: str(RelocationStage(v).label),
        ),
        Column(
            "blockers",
            gettext_lazy("难点问题"),
            _text(2000),
            aliases=("难点", "问题"),
            export=lambda o: o.blockers,
            width=30,
        ),
        Column(**UNIT_COLUMN, parse=_unit),
    ]

    def prepare(self, context):
        context.lookups["_plots"] = {
            p.code: p for p in RelocationPlot.objects.filter(archived_at__isnull=True)
        }

    def natural_key(self, values):
        plot, number = values.get("plot"), values.get("household_no")
        code = plot.code if isinstance(plot, RelocationPlot) else plot
        return (code, number) if code and number else None

    def field_values(self, values, present):
        out = super().field_values(values, present)
        out.pop("plot", None)
        return out

    def new(self, values, present):
        obj = super().new(values, present)
        obj.plot = self._plot_for(values)
        return obj

    def _plot_for(self, values) -> RelocationPlot:
        code = values["plot"]
        plot = RelocationPlot.objects.filter(code=code, archived_at__isnull=True).first()
        if plot is None:
            plot = RelocationPlot.objects.create(code=code, org_unit=values["org_unit"])
        return plot

    def find_existing(self, keys):
        q = Q(pk__in=[])
        for code, number in keys:
            q |= Q(plot__code=code, household_no=number)
        found = RelocationHousehold.objects.filter(q, archived_at__isnull=True).select_related(
            "plot", "org_unit"
        )
        return {(h.plot.code, h.household_no): h for h in found}

    def export_queryset(self, queryset):
        return queryset.select_related("plot", "org_unit")


LEDGERS: dict[str, LedgerSpec] = {
    spec.key: spec
    for spec in (ResidentSpec(), EnterpriseSpec(), BuildingSpec(), ProjectSpec(), HouseholdSpec())
}


def get_spec(key: str) -> LedgerSpec:
    return LEDGERS[key]
