"""The ledger pages: one generic list/detail/form/import flow, configured per ledger.

Every read goes through the access layer (BUSINESS_READ to see, BUSINESS_WRITE to change, in
the record's unit); missing and not-yours are the same 404. Personal values are masked; the
"显示" button posts to ``reveal`` (Cap.REVEAL_PERSONAL in the record's unit), which records an
audit event and swaps in the full value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from jiedao.accounts.access import get_scoped_or_404, has_cap, require_cap, units_in_scope
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor
from jiedao.core.masking import mask_birth_date, mask_id, mask_name, mask_phone

from . import engine, importer, selectors, services
from . import forms as ledger_forms
from .fields import code_text
from .models import (
    STAGE_ORDER,
    Building,
    ImportRun,
    ImportStatus,
    MilestoneKind,
    PopulationGroup,
    RelocationPlot,
    RelocationStage,
    Resident,
)
from .specs import LEDGERS, get_spec

PAGE_SIZE = 50
NAV = "ledgers"


@dataclass(frozen=True)
class Cell:
    value: Any
    link: str = ""
    mono: bool = False
    badge: str = ""


@dataclass(frozen=True)
class LedgerUI:
    key: str
    label: Any
    headers: list[Any]
    row: Callable[[Any], list[Cell]]
    facts: Callable[[Any], list[tuple[Any, Any]]]
    personal: list[tuple[str, Any, Callable[[str], str]]]  # (field, label, masker)
    form: type
    title: Callable[[Any], str]


def _groups(resident: Resident) -> str:
    return "、".join(m.get_group_display() for m in resident.memberships.all())


def _age(resident: Resident):
    age = resident.age_on(timezone.localdate())
    return age if age is not None else "—"


def _yes(value: bool) -> str:
    return _("是") if value else _("否")


UI: dict[str, LedgerUI] = {
    "residents": LedgerUI(
        "residents",
        gettext_lazy("服务对象"),
        [
            gettext_lazy("姓名"),
            gettext_lazy("公民身份号码"),
            gettext_lazy("性别"),
            gettext_lazy("年龄"),
            gettext_lazy("手机号"),
            gettext_lazy("人群类别"),
            gettext_lazy("所属单位"),
        ],
        lambda o: [
            Cell(mask_name(o.name), link=True),
            Cell(mask_id(o.id_number), mono=True),
            Cell(o.get_gender_display()),
            Cell(_age(o)),
            Cell(mask_phone(o.phone) or "—", mono=True),
            Cell(_groups(o) or "—"),
            Cell(o.org_unit.name),
        ],
        lambda o: [
            (_("性别"), o.get_gender_display()),
            (_("年龄"), _age(o)),
            (_("住址"), o.address or "—"),
            (_("人群类别"), _groups(o) or "—"),
            (_("所属单位"), o.org_unit.name),
            (_("备注"), o.notes or "—"),
        ],
        [
            ("name", gettext_lazy("姓名"), mask_name),
            ("id_number", gettext_lazy("公民身份号码"), mask_id),
            ("phone", gettext_lazy("手机号"), mask_phone),
            ("birth_date", gettext_lazy("出生日期"), mask_birth_date),
        ],
        ledger_forms.ResidentForm,
        lambda o: mask_name(o.name),
    ),
    "enterprises": LedgerUI(
        "enterprises",
        gettext_lazy("企业"),
        [
            gettext_lazy("名称"),
            gettext_lazy("统一社会信用代码"),
            gettext_lazy("类型"),
            gettext_lazy("行业"),
            gettext_lazy("联网直报"),
            gettext_lazy("规上"),
            gettext_lazy("限上"),
            gettext_lazy("所在楼宇"),
        ],
        lambda o: [
            Cell(o.name, link=True),
            Cell(o.credit_code, mono=True, badge=_("豁免") if o.credit_code_override else ""),
            Cell(o.get_kind_display()),
            Cell(o.get_sector_display()),
            Cell(_yes(o.online_direct_report)),
            Cell(_yes(o.above_scale)),
            Cell(_yes(o.above_quota)),
            Cell(o.building.name if o.building else "—"),
        ],
        lambda o: [
            (_("统一社会信用代码"), o.credit_code),
            (
                _("信用代码校验"),
                _("未通过,已豁免:%(r)s") % {"r": o.credit_code_override_reason}
                if o.credit_code_override
                else _("通过(GB 32100)"),
            ),
            (_("类型"), o.get_kind_display()),
            (_("行业"), o.get_sector_display()),
            (_("联网直报"), _yes(o.online_direct_report)),
            (_("规上"), _yes(o.above_scale)),
            (_("限上"), _yes(o.above_quota)),
            (_("所在楼宇"), o.building.name if o.building else "—"),
            (_("地址"), o.address or "—"),
            (_("所属单位"), o.org_unit.name),
        ],
        [
            ("contact_name", gettext_lazy("联系人"), mask_name),
            ("contact_phone", gettext_lazy("联系电话"), mask_phone),
        ],
        ledger_forms.EnterpriseForm,
        lambda o: o.name,
    ),
    "buildings": LedgerUI(
        "buildings",
        gettext_lazy("楼宇"),
        [
            gettext_lazy("楼宇名称"),
            gettext_lazy("状态"),
            gettext_lazy("地址"),
            gettext_lazy("建筑面积(平方米)"),
            gettext_lazy("所属单位"),
        ],
        lambda o: [
            Cell(o.name, link=True),
            Cell(o.get_status_display(), badge=o.status),
            Cell(o.address or "—"),
            Cell(o.floor_area if o.floor_area is not None else "—"),
            Cell(o.org_unit.name),
        ],
        lambda o: [
            (_("状态"), o.get_status_display()),
            (_("地址"), o.address or "—"),
            (_("建筑面积(平方米)"), o.floor_area if o.floor_area is not None else "—"),
            (_("所属单位"), o.org_unit.name),
            (_("备注"), o.notes or "—"),
        ],
        [],
        ledger_forms.BuildingForm,
        lambda o: o.name,
    ),
    "projects": LedgerUI(
        "projects",
        gettext_lazy("项目"),
        [
            gettext_lazy("项目名称"),
            gettext_lazy("类型"),
            gettext_lazy("年度"),
            gettext_lazy("年度计划投资(万元)"),
            gettext_lazy("累计完成(万元)"),
            gettext_lazy("完成率"),
            gettext_lazy("所属单位"),
        ],
        lambda o: [
            Cell(o.name, link=True),
            Cell(o.get_kind_display()),
            Cell(o.year),
            Cell(o.planned_investment),
            Cell(o.completed_investment),
            Cell(f"{o.progress_percent}%" if o.progress_percent is not None else "—"),
            Cell(o.org_unit.name),
        ],
        lambda o: [
            (_("类型"), o.get_kind_display()),
            (_("年度"), o.year),
            (
                _("年度计划投资"),
                _("%(w)s 万元(%(y)s 亿元)")
                % {
                    "w": o.planned_investment,
                    "y": (o.planned_investment / 10000).quantize(o.planned_investment.__class__("0.0001")),
                },
            ),
            (_("累计完成投资"), _("%(w)s 万元") % {"w": o.completed_investment}),
            (_("完成率"), f"{o.progress_percent}%" if o.progress_percent is not None else "—"),
            (_("建设单位"), o.owner or "—"),
            (_("所属单位"), o.org_unit.name),
            (_("备注"), o.notes or "—"),
        ],
        [],
        ledger_forms.ProjectForm,
        lambda o: str(o),
    ),
    "households": LedgerUI(
        "households",
        gettext_lazy("征收户"),
        [
            gettext_lazy("地块"),
            gettext_lazy("户号"),
            gettext_lazy("户主"),
            gettext_lazy("产权证类型"),
            gettext_lazy("面积(平方米)"),
            gettext_lazy("补偿方式"),
            gettext_lazy("阶段"),
            gettext_lazy("难点问题"),
        ],
        lambda o: [
            Cell(o.plot.code, mono=True),
            Cell(o.household_no, link=True, mono=True),
            Cell(mask_name(o.head_name)),
            Cell(o.get_certificate_type_display()),
            Cell(o.area),
            Cell(o.get_compensation_method_display() or "—"),
            Cell(o.get_stage_display(), badge=o.stage),
            Cell(o.blockers[:30] or "—"),
        ],
        lambda o: [
            (_("地块"), o.plot.code),
            (_("户号"), o.household_no),
            (_("房屋坐落"), o.address or "—"),
            (_("产权证类型"), o.get_certificate_type_display()),
            (_("面积(平方米)"), o.area),
            (_("补偿方式"), o.get_compensation_method_display() or "—"),
            (_("阶段"), o.get_stage_display()),
            (_("难点问题"), o.blockers or "—"),
            (_("所属单位"), o.org_unit.name),
        ],
        [
            ("head_name", gettext_lazy("户主姓名"), mask_name),
            ("id_number", gettext_lazy("户主身份号码"), mask_id),
            ("phone", gettext_lazy("联系电话"), mask_phone),
        ],
        ledger_forms.HouseholdForm,
        lambda o: f"{o.plot.code} {o.household_no}",
    ),
}


def _ui(key: str) -> LedgerUI:
    try:
        return UI[key]
    except KeyError:
        raise Http404 from None


def _get(request, key: str, pk: int, cap: str = Cap.BUSINESS_READ):
    ui = _ui(key)
    model = selectors.QUERIES[key].model
    qs = model.objects.select_related(*selectors.QUERIES[key].related)
    return ui, get_scoped_or_404(qs, request.user, cap, pk=pk)


# --- index and list -------------------------------------------------------------------------------


@login_required
def index(request):
    require_cap(request.user, Cap.BUSINESS_READ)
    cards = []
    for key, ui in UI.items():
        count = selectors.ledger_queryset(key, request.user).count()
        cards.append(
            {"key": key, "label": ui.label, "count": count, "url": reverse("ledgers:list", args=[key])}
        )
    return render(
        request,
        "ledgers/index.html",
        {"cards": cards, "nav_current": NAV, "can_write": has_cap(request.user, Cap.BUSINESS_WRITE)},
    )


@login_required
def ledger_list(request, ledger: str):
    ui = _ui(ledger)
    require_cap(request.user, Cap.BUSINESS_READ)
    qs, used = selectors.apply_filters(ledger, selectors.ledger_queryset(ledger, request.user), request.GET,
                                       request.user)
    page = Paginator(
        qs.order_by(*selectors.QUERIES[ledger].model._meta.ordering or ["pk"]), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [
        {"obj": obj, "cells": ui.row(obj), "url": reverse("ledgers:detail", args=[ledger, obj.pk])}
        for obj in page
    ]
    context = {
        "ui": ui,
        "ledger": ledger,
        "rows": rows,
        "page": page,
        "used": used,
        "filters": selectors.QUERIES[ledger].filters,
        "q": used.get("q", ""),
        "can_write": has_cap(request.user, Cap.BUSINESS_WRITE),
        "can_reveal": has_cap(request.user, Cap.REVEAL_PERSONAL) and bool(ui.personal),
        "query": request.GET.urlencode(),
        "nav_current": NAV,
    }
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "ledgers/list.html#ledger_table" if partial else "ledgers/list.html", context)


# --- detail ---------------------------------------------------------------------------------------


@login_required
def ledger_detail(request, ledger: str, pk: int):
    ui, obj = _get(request, ledger, pk)
    can_reveal = has_cap(request.user, Cap.REVEAL_PERSONAL, obj.org_unit)
    personal = [
        {
            "field": f,
            "label": label,
            "masked": masker(getattr(obj, f)) or "—",
            "has_value": bool(getattr(obj, f)),
        }
        for f, label, masker in ui.personal
    ]
    events = [
        {
            "event": e,
            "label": selectors.event_label(e.event_type),
            "batch": e.event_type.endswith("_batch"),
            "changes": _changes(obj, e.changes, e.event_type),
        }
        for e in selectors.history(obj)
    ]
    context = {
        "ui": ui,
        "ledger": ledger,
        "obj": obj,
        "title": ui.title(obj),
        "facts": ui.facts(obj),
        "personal": personal,
        "can_reveal": can_reveal,
        "events": events,
        "can_write": has_cap(request.user, Cap.BUSINESS_WRITE, obj.org_unit),
        "nav_current": NAV,
    }
    if ledger == "residents":
        context["cases"] = _cases(request, obj)
        context["agreements"] = obj.agreements.all()
        context["agreement_form"] = ledger_forms.AgreementForm()
        context["has_health"] = hasattr(obj, "health_archive")
    elif ledger == "buildings":
        context["tenants"] = obj.tenants.filter(archived_at__isnull=True).order_by("name")
    elif ledger == "enterprises":
        context["cases"] = _cases(request, obj)
    elif ledger == "households":
        current = STAGE_ORDER.index(obj.stage)
        context["stages"] = [
            (code, label, "current" if i == current else "done" if i < current else "todo")
            for i, (code, label) in enumerate(RelocationStage.choices)
        ]
    elif ledger == "projects":
        context["investments"] = obj.investments.all()
        context["milestones"] = {m.kind: m for m in obj.milestones.all()}
        context["milestone_rows"] = [
            (kind, label, context["milestones"].get(kind)) for kind, label in MilestoneKind.choices
        ]
        context["investment_form"] = ledger_forms.InvestmentForm()
        context["milestone_form"] = ledger_forms.MilestoneForm()
    return render(request, "ledgers/detail.html", context)


# Keys of events that are not fields of the record itself (investments, milestones, imports …).
CHANGE_LABELS = {
    "month": gettext_lazy("月份"),
    "amount": gettext_lazy("完成投资(万元)"),
    "planned_date": gettext_lazy("计划日期"),
    "actual_date": gettext_lazy("实际日期"),
    "groups": gettext_lazy("人群类别"),
    "field": gettext_lazy("字段"),
    "fields": gettext_lazy("字段"),
    "provider": gettext_lazy("服务提供方"),
    "services": gettext_lazy("服务内容"),
    "start_date": gettext_lazy("开始日期"),
    "end_date": gettext_lazy("结束日期"),
    "agreement": gettext_lazy("协议"),
    "created": gettext_lazy("新建"),
    "exists": gettext_lazy("已有档案"),
    "reason": gettext_lazy("理由"),
}


def _cases(request, obj):
    """The record's cases that the viewer may see (cases are scoped by their own unit), or None
    when the case loop is not installed."""
    if not hasattr(obj, "cases"):
        return None
    from jiedao.accounts.access import scoped

    return list(scoped(obj.cases.all(), request.user, Cap.BUSINESS_READ).order_by("-pk")[:50])


def _changes(obj, changes, event_type: str = "") -> list[tuple[str, str]]:
    """An event's changes for the history table: Chinese field names, "旧值 → 新值"."""
    out = []
    for name, value in services.masked(changes or {}, obj).items():
        if name == "kind" and event_type == "ledgers.project_milestone":
            out.append(
                (str(_("节点")), str(MilestoneKind(value).label) if value in MilestoneKind.values else value)
            )
            continue
        try:
            label = str(CHANGE_LABELS.get(name) or obj._meta.get_field(name).verbose_name)
        except Exception:
            label = name
        if isinstance(value, list) and len(value) == 2:
            old, new = (_shown(obj, name, v) for v in value)
            text = f"{new}" if value[0] is None else f"{old} → {new}"
        else:
            text = _shown(obj, name, value)
        out.append((label, text))
    return out


def _shown(obj, name: str, value) -> str:
    """A recorded value as people read it: a choice's label, a related record's name, a list
    joined with 、, 是/否 — not the code, id or Python list the event stores."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return _yes(value)
    if isinstance(value, list):
        return "、".join(_shown(obj, name, v) for v in value)
    if name == "groups":
        return str(PopulationGroup(value).label) if value in PopulationGroup.values else str(value)
    try:
        field = obj._meta.get_field(name)
    except Exception:
        field = None
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field is not None and field.many_to_one and isinstance(value, int):
        related = field.related_model.objects.filter(pk=value).first()
        return str(related) if related is not None else str(value)
    return str(value)


@login_required
@require_POST
def reveal(request, ledger: str, pk: int, field: str):
    ui, obj = _get(request, ledger, pk)
    require_cap(request.user, Cap.REVEAL_PERSONAL, obj.org_unit)
    if field not in {f for f, _l, _m in ui.personal}:
        raise Http404
    value = services.reveal(by=Actor.of(request), obj=obj, field=field)
    return HttpResponse(
        format_html('<span class="revealed mono" data-revealed="{}">{}</span>', field, value or "—")
    )


# --- forms ----------------------------------------------------------------------------------------


def _form_kwargs(request, ledger: str) -> dict:
    kwargs: dict[str, Any] = {"units": units_in_scope(request.user, Cap.BUSINESS_WRITE)}
    if ledger == "enterprises":
        from jiedao.accounts.access import scoped

        kwargs["buildings"] = scoped(
            Building.objects.filter(archived_at__isnull=True), request.user, Cap.BUSINESS_READ
        ).order_by("name")
    return kwargs


def _initial(ledger: str, obj) -> dict:
    if obj is None:
        return {}
    data = {f: getattr(obj, f) for f in ledger_forms_fields(ledger) if hasattr(obj, f)}
    data["org_unit"] = obj.org_unit_id
    if ledger == "residents":
        data["groups"] = obj.group_codes
    if ledger == "households":
        data["plot_code"] = obj.plot.code
    if ledger == "enterprises":
        data["building"] = obj.building_id
    return data


def ledger_forms_fields(ledger: str) -> list[str]:
    return list(UI[ledger].form.base_fields)


def _save(request, ledger: str, data: dict, obj):
    by = Actor.of(request)
    data = dict(data)
    if ledger == "residents":
        groups = data.pop("groups", [])
        if obj is None:
            return services.resident_create(by=by, groups=groups, **data)
        return services.resident_update(by=by, resident=obj, groups=groups, **data)
    if ledger == "enterprises":
        if obj is None:
            return services.enterprise_create(by=by, **data)
        return services.enterprise_update(by=by, enterprise=obj, **data)
    if ledger == "buildings":
        if obj is None:
            return services.building_create(by=by, **data)
        return services.building_update(by=by, building=obj, **data)
    if ledger == "projects":
        if obj is None:
            return services.project_create(by=by, **data)
        return services.project_update(by=by, project=obj, **data)
    if ledger == "households":
        code = data.pop("plot_code")
        plot = RelocationPlot.objects.filter(code=code_text(code), archived_at__isnull=True).first()
        if plot is None:
            plot = services.plot_create(by=by, org_unit=data["org_unit"], code=code)
        data["plot"] = plot
        if obj is None:
            return services.household_create(by=by, **data)
        return services.household_update(by=by, household=obj, **data)
    raise Http404


def _add_errors(form, error: ValidationError, request, ledger: str) -> None:
    if isinstance(error, services.DuplicateRecord):
        url = reverse("ledgers:detail", args=[ledger, error.existing.pk])
        for name, errors in error.error_dict.items():
            for message in errors:
                text = message.message if hasattr(message, "message") else str(message)
                form.add_error(
                    name if name in form.fields else None,
                    format_html(
                        '{} <a href="{}" data-existing="{}">{}</a>',
                        text,
                        url,
                        error.existing.pk,
                        _("查看已有记录"),
                    ),
                )
        return
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _form_page(request, ledger: str, obj=None):
    ui = _ui(ledger)
    may_reveal = obj is None or has_cap(request.user, Cap.REVEAL_PERSONAL, obj.org_unit)
    initial = _initial(ledger, obj)
    if obj is not None and request.method == "GET" and may_reveal:
        # An edit form shows the full personal values: that is a reveal, recorded as such.
        for field, _label, _m in ui.personal:
            if field in ui.form.base_fields and getattr(obj, field, ""):
                services.reveal(by=Actor.of(request), obj=obj, field=field)
    form = ui.form(request.POST or None, initial=initial, **_form_kwargs(request, ledger))
    if not may_reveal:
        # Editors without Cap.REVEAL_PERSONAL (网格员) are not offered the masked fields at all.
        for field, _label, _m in ui.personal:
            form.fields.pop(field, None)
    if request.method == "POST" and form.is_valid():
        try:
            saved = _save(request, ledger, form.cleaned_data, obj)
        except ValidationError as error:
            _add_errors(form, error, request, ledger)
        else:
            messages.success(request, _("已保存。"))
            return redirect("ledgers:detail", ledger, saved.pk)
    return render(
        request,
        "ledgers/form.html",
        {
            "ui": ui,
            "ledger": ledger,
            "form": form,
            "obj": obj,
            "title": ui.title(obj) if obj else "",
            "nav_current": NAV,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
def ledger_create(request, ledger: str):
    _ui(ledger)
    require_cap(request.user, Cap.BUSINESS_WRITE)
    return _form_page(request, ledger)


@login_required
def ledger_edit(request, ledger: str, pk: int):
    _ui_, obj = _get(request, ledger, pk, Cap.BUSINESS_WRITE)
    return _form_page(request, ledger, obj)


@login_required
@require_POST
def ledger_archive(request, ledger: str, pk: int):
    _ui_, obj = _get(request, ledger, pk, Cap.BUSINESS_WRITE)
    by = Actor.of(request)
    {
        "residents": lambda: services.resident_archive(by=by, resident=obj),
        "enterprises": lambda: services.enterprise_archive(by=by, enterprise=obj),
        "buildings": lambda: services.building_archive(by=by, building=obj),
        "projects": lambda: services.project_archive(by=by, project=obj),
        "households": lambda: services.household_archive(by=by, household=obj),
    }[ledger]()
    messages.success(request, _("已归档。"))
    return redirect("ledgers:list", ledger)


# --- resident extras ------------------------------------------------------------------------------


@login_required
def health(request, pk: int):
    """The health archive: only REVEAL_PERSONAL holders in the resident's unit; each reading audited."""
    _ui_, resident = _get(request, "residents", pk)
    require_cap(request.user, Cap.REVEAL_PERSONAL, resident.org_unit)
    by = Actor.of(request)
    if request.method == "POST":
        require_cap(request.user, Cap.BUSINESS_WRITE, resident.org_unit)
        form = ledger_forms.HealthForm(request.POST)
        if form.is_valid():
            services.health_archive_save(by=by, resident=resident, **form.cleaned_data)
            messages.success(request, _("健康档案已保存。"))
            return redirect("ledgers:health", pk)
        archive = None
    else:
        archive = services.health_archive_read(by=by, resident=resident)
        form = ledger_forms.HealthForm(
            initial={f: getattr(archive, f) for f in services.HEALTH_FIELDS} if archive else None
        )
    return render(
        request,
        "ledgers/health.html",
        {
            "resident": resident,
            "title": mask_name(resident.name),
            "archive": archive,
            "form": form,
            "can_write": has_cap(request.user, Cap.BUSINESS_WRITE, resident.org_unit),
            "nav_current": NAV,
        },
    )


@login_required
@require_POST
def agreement_create(request, pk: int):
    _ui_, resident = _get(request, "residents", pk, Cap.BUSINESS_WRITE)
    form = ledger_forms.AgreementForm(request.POST)
    if form.is_valid():
        try:
            services.agreement_create(by=Actor.of(request), resident=resident, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
        else:
            messages.success(request, _("服务协议已登记。"))
    else:
        messages.error(
            request,
            _("服务协议未保存:%(e)s")
            % {
                "e": "; ".join(
                    f"{form.fields[k].label}:{' '.join(v)}"
                    for k, v in form.errors.items()
                    if k in form.fields
                )
            },
        )
    return redirect("ledgers:detail", "residents", pk)


# --- project extras -------------------------------------------------------------------------------


@login_required
@require_POST
def project_investment(request, pk: int):
    _ui_, project = _get(request, "projects", pk, Cap.BUSINESS_WRITE)
    form = ledger_forms.InvestmentForm(request.POST)
    if form.is_valid():
        services.investment_set(by=Actor.of(request), project=project, **form.cleaned_data)
        messages.success(request, _("月度投资已保存。"))
    else:
        messages.error(request, _("月度投资未保存:请填写月份和不小于 0 的金额"))
    return redirect("ledgers:detail", "projects", pk)


@login_required
@require_POST
def project_milestone(request, pk: int):
    _ui_, project = _get(request, "projects", pk, Cap.BUSINESS_WRITE)
    form = ledger_forms.MilestoneForm(request.POST)
    if form.is_valid():
        services.milestone_set(by=Actor.of(request), project=project, **form.cleaned_data)
        messages.success(request, _("项目节点已保存。"))
    else:
        messages.error(request, _("项目节点未保存"))
    return redirect("ledgers:detail", "projects", pk)


# --- excel ----------------------------------------------------------------------------------------


def _xlsx(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(
        data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(filename)}"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


@login_required
def template_download(request, ledger: str):
    if ledger not in LEDGERS:
        raise Http404
    require_cap(request.user, Cap.BUSINESS_READ)
    spec = get_spec(ledger)
    return _xlsx(engine.template(spec), f"{spec.label}导入模板.xlsx")


@login_required
def export(request, ledger: str):
    if ledger not in LEDGERS:
        raise Http404
    require_cap(request.user, Cap.BUSINESS_READ)
    spec = get_spec(ledger)
    qs, used = selectors.apply_filters(ledger, selectors.ledger_queryset(ledger, request.user), request.GET,
                                       request.user)
    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    return _xlsx(engine.export(spec, qs.order_by("pk")), f"{spec.label}_{stamp}.xlsx")


@login_required
def import_start(request, ledger: str):
    if ledger not in LEDGERS:
        raise Http404
    require_cap(request.user, Cap.BUSINESS_WRITE)
    spec = get_spec(ledger)
    units = units_in_scope(request.user, Cap.BUSINESS_WRITE)
    form = ledger_forms.ImportForm(request.POST or None, request.FILES or None, units=units)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > importer.xlsx.MAX_UPLOAD_BYTES:
            form.add_error(
                "file", _("文件过大,上限为 %(m)s MB") % {"m": importer.xlsx.MAX_UPLOAD_BYTES // 1048576}
            )
        else:
            run = importer.start(
                ledger=ledger, unit=form.cleaned_data["org_unit"], user=request.user, upload=upload
            )
            return redirect("ledgers:import_run", run.pk)
    runs = ImportRun.objects.filter(created_by=request.user, ledger=ledger)[:10]
    return render(
        request,
        "ledgers/import.html",
        {
            "spec": spec,
            "ledger": ledger,
            "form": form,
            "runs": runs,
            "nav_current": NAV,
        },
    )


def _run(request, pk: int) -> ImportRun:
    qs = ImportRun.objects.filter(created_by=request.user).select_related("org_unit")
    return get_scoped_or_404(qs, request.user, Cap.BUSINESS_WRITE, pk=pk)


RUNNING = {ImportStatus.UPLOADED, ImportStatus.CHECKING, ImportStatus.IMPORTING}


def _run_context(request, run: ImportRun) -> dict:
    spec = get_spec(run.ledger)
    return {
        "run": run,
        "spec": spec,
        "ledger": run.ledger,
        "running": run.status in RUNNING,
        "errors": run.errors[:50],
        "nav_current": NAV,
        "preview": run.preview if isinstance(run.preview, dict) else {},
    }


@login_required
def import_run(request, pk: int):
    run = _run(request, pk)
    return render(request, "ledgers/import_run.html", _run_context(request, run))


@login_required
def import_progress(request, pk: int):
    run = _run(request, pk)
    return render(request, "ledgers/import_run.html#run_status", _run_context(request, run))


@login_required
@require_POST
def import_confirm(request, pk: int):
    run = _run(request, pk)
    if run.status != ImportStatus.CHECKED:
        messages.error(request, _("该文件当前不能导入。"))
    else:
        importer.confirm(run)
    return redirect("ledgers:import_run", run.pk)


@login_required
def import_errors(request, pk: int):
    run = _run(request, pk)
    if not run.errors:
        raise Http404
    return _xlsx(engine.error_report(run.errors), f"导入错误_{run.filename.rsplit('.', 1)[0]}.xlsx")
