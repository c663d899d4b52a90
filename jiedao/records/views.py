"""工作记录 and 经济指标 pages.

Every read goes through the access layer (missing and out of scope are the same 404); every
write goes through ``services``; the import pages show every row problem at once and write
nothing unless the whole sheet is clean.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Sum
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from jiedao.accounts.access import get_scoped_or_404, has_cap, require_cap, scoped
from jiedao.accounts.roles import Cap
from jiedao.audit.trail import Actor
from jiedao.core.masking import mask_name

from . import forms as f
from . import indicators as ind
from . import selectors, services, xlsx
from .models import (
    ActivityType,
    EnterpriseVisit,
    Indicator,
    Inspection,
    InsuranceEnrolment,
    JobFair,
    KeyEnterprise,
    MeetingSuggestion,
    PlanItem,
    ReliefVisit,
    Tally,
    TallyPhoto,
    VisitItem,
)

PAGE_SIZE = 30
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READ = Cap.BUSINESS_READ
WRITE = Cap.BUSINESS_WRITE


def _xlsx(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(filename)}"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


def _errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errs in exc.message_dict.items():
            target = field if field in form.fields else None
            for message in errs:
                form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def _ctx(nav: str = "records", **extra) -> dict:
    return {"nav_current": nav, **extra}


def _year(request, default: int | None = None) -> int:
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = default or timezone.localdate().year
    return min(max(year, 2000), 2100)


# --- overview ---------------------------------------------------------------------------

@require_GET
@login_required
def index(request):
    user = request.user
    require_cap(user, READ)
    year = _year(request)
    tallies = scoped(Tally.objects.filter(date__year=year), user, READ)
    meetings = selectors.meetings_for(user).filter(date__year=year)
    meeting_totals = meetings.aggregate(n=Count("pk", distinct=True))
    suggestion_counts = MeetingSuggestion.objects.filter(meeting__in=meetings.values("pk"))
    visits = selectors.visits_for(user).filter(date__year=year)
    inspections = scoped(Inspection.objects.filter(date__year=year), user, READ)
    relief = scoped(ReliefVisit.objects.filter(date__year=year), user, READ)
    fairs = scoped(JobFair.objects.filter(date__year=year), user, READ)
    context = _ctx(
        year=year,
        tally_totals=selectors.tally_totals(tallies),
        meetings=meeting_totals["n"],
        suggestions=suggestion_counts.count(),
        suggestions_solved=suggestion_counts.filter(
            case__in=selectors.Case.objects.solved()).count(),
        visit_stats=selectors.visit_stats(visits),
        inspection_stats=selectors.inspection_stats(inspections),
        relief=relief.aggregate(households=Count("pk"), amount=Sum("amount")),
        fairs=fairs.aggregate(n=Count("pk"), positions=Sum("positions"), placed=Sum("placed")),
        insurance=_latest_insurance(user),
        plans=scoped(PlanItem.objects.filter(year=year + 1), user, READ).count(),
        may_write=has_cap(user, WRITE),
    )
    return render(request, "records/index.html", context)


def _latest_insurance(user) -> list[InsuranceEnrolment]:
    rows = scoped(InsuranceEnrolment.objects.select_related("org_unit"), user, READ)
    latest: dict[tuple[int, str], InsuranceEnrolment] = {}
    for row in rows.order_by("as_of"):
        latest[(row.org_unit_id, row.kind)] = row
    return sorted(latest.values(), key=lambda r: (r.kind, r.org_unit.path))


# --- 工作量 ----------------------------------------------------------------------------

def _tally_filter(request):
    user = request.user
    qs = scoped(Tally.objects.select_related("org_unit", "activity"), user, READ)
    filters = {"activity": request.GET.get("activity", ""),
               "date_from": request.GET.get("date_from", ""),
               "date_to": request.GET.get("date_to", "")}
    if filters["activity"].isdigit():
        qs = qs.filter(activity_id=int(filters["activity"]))
    for key, lookup in (("date_from", "date__gte"), ("date_to", "date__lte")):
        try:
            qs = qs.filter(**{lookup: dt.date.fromisoformat(filters[key])})
        except ValueError:
            filters[key] = ""
    return qs, filters


@require_GET
@login_required
def tally_list(request):
    require_cap(request.user, READ)
    qs, filters = _tally_filter(request)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = _ctx(page=page, rows=list(page), filters=filters,
                   totals=selectors.tally_totals(qs),
                   activities=ActivityType.objects.filter(is_active=True),
                   may_write=has_cap(request.user, WRITE))
    return render(request, "records/tally_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def tally_create(request):
    require_cap(request.user, WRITE)
    form = f.TallyForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            tally = services.tally_create(Actor.of(request), org_unit=data["org_unit"],
                                          date=data["date"], activity=data["activity"],
                                          quantity=data["quantity"], note=data["note"],
                                          photos=data["photos"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("已登记:%(t)s") % {"t": tally})
            return redirect("records:tally_detail", pk=tally.pk)
    return render(request, "records/form.html", _ctx(
        form=form, title=_("登记工作量"), back="records:tally_list", multipart=True))


@require_GET
@login_required
def tally_detail(request, pk: int):
    tally = get_scoped_or_404(Tally.objects.select_related("org_unit", "activity"),
                              request.user, READ, pk=pk)
    return render(request, "records/tally_detail.html", _ctx(tally=tally,
                                                             photos=tally.photos.all()))


@require_GET
@login_required
def tally_photo(request, pk: int):
    photo = get_scoped_or_404(TallyPhoto.objects.all(), request.user, READ,
                              field="tally__org_unit", pk=pk)
    return FileResponse(photo.file.open("rb"), filename=photo.name)


@require_http_methods(["GET", "POST"])
@login_required
def tally_import(request):
    require_cap(request.user, WRITE)
    form = f.ImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            rows = xlsx.read_tallies(upload, request.user)
            created = services.tally_import(Actor.of(request), rows=rows, filename=upload.name)
        except ValidationError as exc:
            problems = exc.messages
        else:
            messages.success(request, _("已导入 %(n)d 条工作量") % {"n": len(created)})
            return redirect("records:tally_list")
    return render(request, "records/import.html", _ctx(
        form=form, problems=problems, title=_("导入工作量"), back="records:tally_list",
        template_url="records:tally_template",
        rules=[_("第一行为表头:日期、单位、工作类型、数量、计量单位(可空)、备注(可空)。"),
               _("单位填名称或区划代码,须在您的录入范围内;工作类型见模板第二页。"),
               _("全部行无误才会导入;有任何错误时一行也不写入,并列出每一行的问题。")]))


@require_GET
@login_required
def tally_template(request):
    require_cap(request.user, WRITE)
    return _xlsx(xlsx.tally_template(), "工作量导入模板.xlsx")


@require_GET
@login_required
def tally_export(request):
    require_cap(request.user, READ)
    qs, _filters = _tally_filter(request)
    return _xlsx(xlsx.tally_export(qs), f"工作量-{timezone.localdate():%Y%m%d}.xlsx")


# --- 会议 ------------------------------------------------------------------------------

@require_GET
@login_required
def meeting_list(request):
    require_cap(request.user, READ)
    qs = selectors.meetings_for(request.user)
    kind = request.GET.get("kind", "")
    if kind:
        qs = qs.filter(kind=kind)
    totals = qs.aggregate(total=Sum("suggestions_total"), solved=Sum("suggestions_solved"))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    from .models import MeetingKind

    return render(request, "records/meeting_list.html", _ctx(
        page=page, rows=list(page), kind=kind, kinds=MeetingKind.choices, totals=totals,
        may_write=has_cap(request.user, WRITE)))


@require_http_methods(["GET", "POST"])
@login_required
def meeting_create(request):
    require_cap(request.user, WRITE)
    form = f.MeetingForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meeting = services.meeting_create(
                Actor.of(request), org_unit=data["org_unit"], kind=data["kind"], date=data["date"],
                place=data["place"], topic=data["topic"], minutes=data["minutes"],
                attendance=form.attendance(), suggestions=data["suggestions"].splitlines())
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("会议已登记,意见建议已转为工单"))
            return redirect("records:meeting_detail", pk=meeting.pk)
    return render(request, "records/meeting_form.html", _ctx(form=form))


@require_http_methods(["GET", "POST"])
@login_required
def meeting_detail(request, pk: int):
    meeting = get_scoped_or_404(selectors.meetings_for(request.user), request.user, READ, pk=pk)
    may_write = has_cap(request.user, WRITE, meeting.org_unit)
    form = f.SuggestionForm(request.POST or None)
    if request.method == "POST":
        if not may_write:
            raise Http404
        if form.is_valid():
            try:
                services.meeting_add_suggestion(Actor.of(request), meeting=meeting,
                                                text=form.cleaned_data["text"])
            except ValidationError as exc:
                _errors(form, exc)
            else:
                return redirect("records:meeting_detail", pk=meeting.pk)
    suggestions = meeting.suggestions.select_related("case")
    attendance = [(row, mask_name_list(row.names)) for row in meeting.attendance.all()]
    return render(request, "records/meeting_detail.html", _ctx(
        meeting=meeting, suggestions=suggestions, attendance=attendance, form=form,
        may_write=may_write))


def mask_name_list(names: str) -> str:
    parts = [p for p in names.replace(",", "、").replace(",", "、").split("、") if p.strip()]
    return "、".join(mask_name(p.strip()) for p in parts)


# --- 走访认亲 --------------------------------------------------------------------------

@require_GET
@login_required
def visit_list(request):
    require_cap(request.user, READ)
    qs = selectors.visits_for(request.user)
    year = request.GET.get("year", "")
    if year.isdigit():
        qs = qs.filter(date__year=int(year))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "records/visit_list.html", _ctx(
        page=page, rows=list(page), stats=selectors.visit_stats(qs), year=year,
        may_write=has_cap(request.user, WRITE)))


@require_http_methods(["GET", "POST"])
@login_required
def visit_create(request):
    require_cap(request.user, WRITE)
    form = f.VisitForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.enterprise_visit_create(
                Actor.of(request), org_unit=data["org_unit"], date=data["date"],
                visitor=request.user, visitor_name=data["visitor_name"],
                target_kind=data["target_kind"], enterprise=data["enterprise"],
                target_name=data["target_name"].strip(), note=data["note"],
                demands=data["demands"].splitlines(), suggestions=data["suggestions"].splitlines())
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("走访已登记"))
            return redirect("records:visit_detail", pk=visit.pk)
    return render(request, "records/form.html", _ctx(form=form, title=_("登记走访认亲"),
                                                     back="records:visit_list"))


@require_GET
@login_required
def visit_detail(request, pk: int):
    visit = get_scoped_or_404(EnterpriseVisit.objects.select_related("org_unit", "enterprise"),
                              request.user, READ, pk=pk)
    earlier = scoped(EnterpriseVisit.objects.filter(target_kind=visit.target_kind), request.user,
                     READ)
    earlier = (earlier.filter(enterprise=visit.enterprise) if visit.enterprise_id
               else earlier.filter(target_name=visit.target_name))
    return render(request, "records/visit_detail.html", _ctx(
        visit=visit, items=VisitItem.objects.filter(visit=visit).select_related("case"),
        times=earlier.count()))


@require_http_methods(["GET", "POST"])
@login_required
def key_enterprises(request):
    require_cap(request.user, READ)
    may_write = has_cap(request.user, WRITE)
    form = f.KeyEnterpriseForm(request.POST or None, user=request.user) if may_write else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.key_enterprise_add(Actor.of(request), org_unit=data["org_unit"],
                                            year=data["year"], leader=data["leader"],
                                            enterprise=data["enterprise"])
            except ValidationError as exc:
                _errors(form, exc)
            else:
                return redirect("records:key_enterprises")
    links = scoped(KeyEnterprise.objects.select_related("leader", "enterprise"), request.user,
                   READ).order_by("-year", "leader__full_name", "enterprise__name")
    visited = set(scoped(EnterpriseVisit.objects.filter(enterprise__isnull=False), request.user,
                         READ).values_list("enterprise_id", "visitor_id", "date__year"))
    rows = [(link, (link.enterprise_id, link.leader_id, link.year) in visited) for link in links]
    return render(request, "records/key_enterprises.html", _ctx(rows=rows, form=form))


# --- 慰问、招聘会、参保 (one shape: a list and a form) ---------------------------------

@dataclass(frozen=True)
class Simple:
    model: type
    form: type
    service: str
    title: str
    columns: tuple[tuple[str, str], ...]  # (attribute, heading)


SIMPLE = {
    "relief": Simple(ReliefVisit, f.ReliefForm, "relief_create", gettext_lazy("走访慰问"),
                     (("date", gettext_lazy("日期")), ("occasion", gettext_lazy("活动")),
                      ("masked_household", gettext_lazy("户主")),
                      ("get_group_display", gettext_lazy("类别")),
                      ("amount", gettext_lazy("慰问金(元)")), ("org_unit", gettext_lazy("单位")))),
    "job-fairs": Simple(JobFair, f.JobFairForm, "job_fair_create", gettext_lazy("招聘会"),
                        (("date", gettext_lazy("日期")), ("title", gettext_lazy("名称")),
                         ("positions", gettext_lazy("岗位")), ("placed", gettext_lazy("安置")),
                         ("org_unit", gettext_lazy("单位")))),
    "insurance": Simple(InsuranceEnrolment, f.InsuranceForm, "insurance_record",
                        gettext_lazy("参保办理"),
                        (("as_of", gettext_lazy("截至")), ("get_kind_display", gettext_lazy("事项")),
                         ("total", gettext_lazy("累计")), ("new", gettext_lazy("其中新增")),
                         ("org_unit", gettext_lazy("单位")))),
}


def _simple(kind: str) -> Simple:
    if kind not in SIMPLE:
        raise Http404
    return SIMPLE[kind]


def _cell(obj, attr: str):
    if attr == "masked_household":
        return mask_name(obj.household)
    value = getattr(obj, attr)
    return value() if callable(value) else value


@require_GET
@login_required
def simple_list(request, kind: str):
    spec = _simple(kind)
    require_cap(request.user, READ)
    qs = scoped(spec.model.objects.select_related("org_unit"), request.user, READ)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [[_cell(obj, attr) for attr, _h in spec.columns] for obj in page]
    sums = {}
    if spec.model is ReliefVisit:
        sums = qs.aggregate(households=Count("pk"), amount=Sum("amount"))
    elif spec.model is JobFair:
        sums = qs.aggregate(fairs=Count("pk"), positions=Sum("positions"), placed=Sum("placed"))
    return render(request, "records/simple_list.html", _ctx(
        spec=spec, kind=kind, rows=rows, page=page, sums=sums,
        headings=[h for _a, h in spec.columns], may_write=has_cap(request.user, WRITE)))


@require_http_methods(["GET", "POST"])
@login_required
def simple_create(request, kind: str):
    spec = _simple(kind)
    require_cap(request.user, WRITE)
    form = spec.form(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            getattr(services, spec.service)(Actor.of(request), **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("已保存"))
            return redirect("records:simple_list", kind=kind)
    return render(request, "records/form.html", _ctx(
        form=form, title=spec.title, back_url=f"/records/{kind}/"))


# --- 排查 ------------------------------------------------------------------------------

@require_GET
@login_required
def inspection_list(request):
    require_cap(request.user, READ)
    base = scoped(Inspection.objects.all(), request.user, READ)
    qs = selectors.with_hazard_counts(base)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "records/inspection_list.html", _ctx(
        page=page, rows=list(page), stats=selectors.inspection_stats(base),
        may_write=has_cap(request.user, WRITE)))


@require_http_methods(["GET", "POST"])
@login_required
def inspection_create(request):
    require_cap(request.user, WRITE)
    form = f.InspectionForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        texts = [t.strip() for t in data["hazards"].splitlines() if t.strip()]
        if data["photos"] and not texts:
            form.add_error("photos", _("有照片时请至少写明一处隐患"))
        else:
            hazards = [services.HazardInput(t, data["photos"] if i == 0 else ())
                       for i, t in enumerate(texts)]
            try:
                inspection = services.inspection_create(
                    Actor.of(request), org_unit=data["org_unit"], date=data["date"],
                    kind=data["kind"], premises_kind=data["premises_kind"],
                    premises=data["premises"], enterprise=data["enterprise"],
                    building=data["building"], inspectors=data["inspectors"], note=data["note"],
                    hazards=hazards)
            except ValidationError as exc:
                _errors(form, exc)
            else:
                messages.success(request, _("排查已登记"))
                return redirect("records:inspection_detail", pk=inspection.pk)
    return render(request, "records/form.html", _ctx(
        form=form, title=_("登记消防安全排查"), back="records:inspection_list", multipart=True))


@require_http_methods(["GET", "POST"])
@login_required
def inspection_detail(request, pk: int):
    inspection = get_scoped_or_404(selectors.inspections_for(request.user), request.user, READ,
                                   pk=pk)
    may_write = has_cap(request.user, WRITE, inspection.org_unit)
    form = f.HazardForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not may_write:
            raise Http404
        if form.is_valid():
            try:
                services.inspection_add_hazard(Actor.of(request), inspection=inspection,
                                               text=form.cleaned_data["text"],
                                               photos=form.cleaned_data["photos"])
            except ValidationError as exc:
                _errors(form, exc)
            else:
                return redirect("records:inspection_detail", pk=inspection.pk)
    from jiedao.cases.models import Attachment

    hazards = inspection.hazards.select_related("case").prefetch_related(
        Prefetch("case__attachments", queryset=Attachment.objects.all()))
    repeat = scoped(Inspection.objects.filter(premises=inspection.premises), request.user,
                    READ).count()
    return render(request, "records/inspection_detail.html", _ctx(
        inspection=inspection, hazards=hazards, form=form, may_write=may_write, repeat=repeat))


# --- 工作计划 --------------------------------------------------------------------------

@require_GET
@login_required
def plan_list(request):
    require_cap(request.user, READ)
    qs = scoped(PlanItem.objects.select_related("indicator", "category", "org_unit"),
                request.user, READ)
    years = sorted(set(qs.values_list("year", flat=True)), reverse=True)
    year = _year(request, years[0] if years else None) if (request.GET.get("year") or years) else None
    if year:
        qs = qs.filter(year=year)
    items = list(qs)
    measures = selectors.plan_measures(items)
    sections: dict[str, list] = {}
    for item in items:
        sections.setdefault(item.section, []).append((item, measures[item.pk]))
    return render(request, "records/plan_list.html", _ctx(
        sections=sections, year=year, years=years, may_write=has_cap(request.user, WRITE)))


@require_http_methods(["GET", "POST"])
@login_required
def plan_edit(request, pk: int | None = None):
    item = None
    if pk is not None:
        item = get_scoped_or_404(PlanItem.objects.all(), request.user, WRITE, pk=pk)
    else:
        require_cap(request.user, WRITE)
    form = f.PlanItemForm(request.POST or None, instance=item, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        unit = data.pop("org_unit")
        try:
            if item is None:
                services.plan_item_save(Actor.of(request), org_unit=unit, **data)
            else:
                item.refresh_from_db()
                services.plan_item_save(Actor.of(request), item=item, **data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("已保存"))
            return redirect("records:plan_list")
    return render(request, "records/form.html", _ctx(
        form=form, title=_("工作计划"), back="records:plan_list"))


# --- 经济指标 --------------------------------------------------------------------------

def _require_indicator_read(user) -> None:
    if not (has_cap(user, READ) or has_cap(user, Cap.DISTRICT_STATS)):
        raise Http404


def _period(request, district) -> tuple[int, int]:
    today = timezone.localdate()
    year = _year(request)
    try:
        month = int(request.GET.get("month", ""))
    except ValueError:
        month = ind.latest_month(district, year) or (today.month if year == today.year else 12)
    return year, min(max(month, 1), 12)


def _district(request):
    districts = ind.districts_for(request.user)
    if not districts:
        raise Http404
    wanted = request.GET.get("district", "")
    for district in districts:
        if str(district.pk) == wanted:
            return district, districts
    return districts[0], districts


@require_GET
@login_required
def indicator_list(request):
    """The monthly 通报: every indicator, every street of the district, ranked."""
    _require_indicator_read(request.user)
    district, districts = _district(request)
    year, month = _period(request, district)
    rows = ind.bulletin(district, year, month)
    if request.GET.get("format") == "xlsx":
        return _xlsx(xlsx.bulletin_export(rows, year, month),
                     f"经济指标通报-{district.name}-{year}年1-{month}月.xlsx")
    blocks: dict[int, dict] = {}
    for row in rows:
        block = blocks.setdefault(row.indicator.pk, {"indicator": row.indicator, "rows": [],
                                                     "period": ind.period_label(row.indicator, month)})
        block["rows"].append(row)
    return render(request, "records/indicator_list.html", _ctx(
        "indicators", blocks=list(blocks.values()), year=year, month=month, district=district,
        districts=districts, months=range(1, 13),
        may_enter=bool(ind.enterable_streets(request.user)), my_streets=_home_streets(request.user)))


def _home_streets(user) -> set[int]:
    """The street of the user's own unit, highlighted in the 通报."""
    unit = user.home_unit
    street = unit.street if unit is not None else None
    return {street.pk} if street is not None else set()


@require_http_methods(["GET", "POST"])
@login_required
def indicator_detail(request, pk: int):
    """One indicator: the district ranking as a chart and table, one street's months against
    its target, and (for those who may) the entry form."""
    _require_indicator_read(request.user)
    try:
        indicator = Indicator.objects.get(pk=pk, is_active=True)
    except Indicator.DoesNotExist:
        raise Http404 from None
    district, districts = _district(request)
    year, month = _period(request, district)
    streets = ind.streets_of(district)
    enterable = [s for s in ind.enterable_streets(request.user) if s in streets]
    form = None
    if enterable:
        initial = {"indicator": indicator.pk, "year": year, "month": month,
                   "street": enterable[0].pk}
        form = f.IndicatorEntryForm(request.POST or None, streets=enterable, initial=initial)
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            by = Actor.of(request)
            try:
                if data["target"] is not None:
                    services.indicator_target_set(by, indicator=data["indicator"],
                                                  street=data["street"], year=data["year"],
                                                  target=data["target"])
                if data["actual"] is not None:
                    services.indicator_value_set(by, indicator=data["indicator"],
                                                 street=data["street"], year=data["year"],
                                                 month=data["month"], actual=data["actual"])
            except ValidationError as exc:
                _errors(form, exc)
            else:
                messages.success(request, _("已保存 %(s)s %(y)d年%(p)s %(i)s") % {
                    "s": data["street"].name, "y": data["year"],
                    "p": ind.period_label(data["indicator"], data["month"]),
                    "i": data["indicator"].name})
                return redirect(f"{request.path}?year={data['year']}&month={data['month']}"
                                f"&street={data['street'].pk}&district={district.pk}")
    rows = ind.bulletin(district, year, month, [indicator])
    readable = [s for s in streets if ind.readable_street(request.user, s)]
    street = None
    wanted = request.GET.get("street", "")
    for candidate in readable:
        if str(candidate.pk) == wanted:
            street = candidate
    if street is None and readable:
        street = readable[0]
    chart = {
        "unit": indicator.unit,
        "labels": {"progress": _("完成进度"), "actual": _("%(y)d年累计") % {"y": year},
                   "last_year": _("%(y)d年同期") % {"y": year - 1}, "target": _("年度目标"),
                   "rank": _("第%(n)s")},
        "ranking": [{"street": r.street.name, "progress": _num(r.progress), "rank": r.rank}
                    for r in rows],
    }
    if street is not None:
        s = ind.series(indicator, street, year)
        chart.update({
            "street": street.name,
            "months": [f"{m}月" for m in s.months],
            "actual": [_num(v) for v in s.actual],
            "last_year": [_num(v) for v in s.last_year],
            "target": _num(s.target),
            "year": year,
        })
    return render(request, "records/indicator_detail.html", _ctx(
        "indicators", indicator=indicator, rows=rows, year=year, month=month, district=district,
        districts=districts, months=range(1, 13), period=ind.period_label(indicator, month),
        street=street, readable=readable, chart=chart, form=form))


def _num(value):
    return None if value is None else float(value)


@require_http_methods(["GET", "POST"])
@login_required
def indicator_import(request):
    if not ind.enterable_streets(request.user):
        raise Http404
    form = f.ImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            rows = xlsx.read_indicators(upload, request.user)
            changed = services.indicator_import(Actor.of(request), rows=rows,
                                                filename=upload.name)
        except ValidationError as exc:
            problems = exc.messages
        else:
            messages.success(request, _("已导入 %(r)d 行,更新 %(n)d 项数据")
                             % {"r": len(rows), "n": changed})
            return redirect("records:indicator_list")
    return render(request, "records/import.html", _ctx(
        "indicators", form=form, problems=problems, title=_("导入经济指标"),
        back="records:indicator_list", template_url="records:indicator_template",
        rules=[_("第一行为表头:指标、计量单位、街道、年度、月份、年度目标、累计完成。"),
               _("累计完成为 1 至该月的累计数;年度目标或累计完成留空表示不修改。"),
               _("区统计员可导入全区各街道;街道经济发展办只能导入本街道。"),
               _("全部行无误才会导入;有任何错误时一行也不写入,并列出每一行的问题。")]))


@require_GET
@login_required
def indicator_template(request):
    if not ind.enterable_streets(request.user):
        raise Http404
    today = timezone.localdate()
    year = _year(request)
    try:
        month = int(request.GET.get("month", ""))
    except ValueError:
        month = today.month if year == today.year else 12
    month = min(max(month, 1), 12)
    return _xlsx(xlsx.indicator_template(request.user, year, month),
                 f"经济指标录入-{year}年{month}月.xlsx")
