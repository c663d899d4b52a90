"""Staff pages of the case loop (工单): inboxes, case detail with its timeline and step forms,
intake, supervision, KPIs, export, the in-app inbox, and the provider's phone view.

Views fetch through the access layer (``permissions.visible``; the inboxes' queries, shaped
per tab so each branch is served by one index, live in ``inbox.py``), validate a form, call
one service and answer. Every step form posts the version the user saw; a stale one gets
"已被他人更新,请刷新" and the page re-rendered from the fresh case.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, QuerySet
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jiedao.accounts.access import has_cap, scope_q
from jiedao.accounts.models import User
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.audit.trail import Actor, atomic, record
from jiedao.core.masking import mask_name, mask_phone
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import forms as f
from . import permissions, services, workflow
from .export import EXPORT_LIMIT, XLSX, export_filename, write_cases_xlsx
from .inbox import (
    LIST_FIELDS,
    PAGE_SIZE,
    TAB_BY_KEY,
    CheapPage,
    _filtered,
    _list_rows,
    capped_count,
    count_label,
    count_many,
    filter_bar,
    get_case,
    inbox_count,
    inbox_page,
    pool_cases,
    split,
    tab_branches,
    tab_queryset,
    tabs_for,
)
from .kpis import compute, compute_grouped
from .models import (
    OPEN_STATUSES,
    Action,
    Attachment,
    AttachmentStage,
    Case,
    Channel,
    ExtensionStatus,
    Notification,
    Outcome,
    Status,
)
from .services import CaseConflict, CaseError


@require_GET
@login_required
def case_list(request):
    user = request.user
    if permissions.is_provider_only(user):
        return provider_orders(request)
    if not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    now = timezone.now()
    tabs = tabs_for(user)
    tab_key = _tab_key(request, tabs)
    tab = TAB_BY_KEY[tab_key]
    # A search's count the page did not settle arrives by htmx after the list (case_count).
    form, total, page = inbox_page(user, tab_key, request.GET, request.GET.get("page"), now,
                                   defer_count=True)
    # The other tabs' counts arrive by htmx right after the list (case_tab_counts): the list
    # does not wait for six more counts. With a search or a filter they are not counted (each
    # would be that search again): only this tab's count, the list's own, is shown.
    filtered = any(value for key, value in request.GET.items() if key not in ("tab", "page"))
    pending = None if filtered else ""
    shown = None if total is None else count_label(total)
    partial_only = (request.htmx and not request.htmx.history_restore_request
                    and request.htmx.target == "case-table")
    query = _tab_query(request, tab_key)
    context = {
        "form": form, "filter_bar": filter_bar(form), "filtered": filtered, "oob_tabs": partial_only,
        "counts_query": query, "count_url": f"{reverse('cases:case_count')}?{query}",
        "tabs": [(t, shown if t.key == tab_key else pending, href)
                 for t, href in zip(tabs, tab_links(request, tabs), strict=True)], "tab": tab,
        "rows": _list_rows(page, user, now), "page": page, "total": shown,
        "can_create": has_cap(user, Cap.BUSINESS_WRITE) or has_cap(user, Cap.GRID_REPORT),
        "export_limit": EXPORT_LIMIT, "nav_current": "cases",
    }
    template = "cases/case_list.html#case_table" if partial_only else "cases/case_list.html"
    return render(request, template, context)


def _tab_key(request, tabs) -> str:
    """The inbox tab the request names, or the user's first one."""
    key = request.GET.get("tab")
    return key if key in {t.key for t in tabs} else tabs[0].key


def _tab_query(request, key: str) -> str:
    """This request's query with ``tab`` set and ``page`` dropped (the filters kept)."""
    params = request.GET.copy()
    params["tab"] = key
    params.pop("page", None)
    return params.urlencode()


def tab_links(request, tabs) -> list[str]:
    """Each tab's link: the list's URL with this request's query, filters and search kept, but
    ``tab`` set and ``page`` dropped — what ``{% url 'cases:case_list' %}{% querystring tab=…
    page=None %}`` wrote, built here once rather than through two tags per tab."""
    base = reverse("cases:case_list")
    return [f"{base}?{_tab_query(request, t.key)}" for t in tabs]


@require_GET
@login_required
def case_tab_counts(request):
    """The inbox tabs with their counts (loaded by htmx after the list)."""
    user = request.user
    if permissions.is_provider_only(user) or not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    now = timezone.now()
    tabs = tabs_for(user)
    tab_key = _tab_key(request, tabs)
    # Every tab counted in one statement (two when a tab's branches must be united), the
    # user's visibility read once for all of them.
    visible = permissions.visible_branches(user)
    counted = count_many([[split(Case.objects.all(), branch)
                           for branch in tab_branches(user, t.key, now, visible)] for t in tabs])
    links = tab_links(request, tabs)
    counts = [(t, count_label(n), href) for t, n, href in zip(tabs, counted, links, strict=True)]
    return render(request, "cases/case_list.html#tab_nav",
                  {"tabs": counts, "tab": TAB_BY_KEY[tab_key], "counted": True})


@require_GET
@login_required
def case_count(request):
    """The list's count that ``case_list`` deferred (a search's): the same tab, filters and
    search, counted alone (loaded by htmx after the list)."""
    user = request.user
    if permissions.is_provider_only(user) or not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    tabs = tabs_for(user)
    tab_key = _tab_key(request, tabs)
    total = inbox_count(user, tab_key, request.GET, timezone.now())
    # The current tab's badge, left empty while the count was deferred, gets it too.
    return render(request, "cases/includes/case_total.html", {"total": count_label(total), "oob_tab": True})


@require_GET
@login_required
def case_export(request):
    user = request.user
    if not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    tab_key = request.GET.get("tab") or "all"
    if tab_key not in {t.key for t in tabs_for(user)}:
        tab_key = "all"
    now = timezone.now()
    form, qs = _filtered(request, tab_key, now)
    qs = qs.select_related("category", "org_unit", "handler_unit", "handler", "owner").order_by(
        *TAB_BY_KEY[tab_key].ordering)
    out = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        result = write_cases_xlsx(qs, out, now=now, limit=EXPORT_LIMIT)
    except BaseException:
        out.close()
        raise
    record(by=Actor.of(request), event_type="cases.export", org_unit=user.home_unit,
           detail=_("导出工单 %(n)d 条(%(t)s)") % {"n": result.rows, "t": TAB_BY_KEY[tab_key].label},
           changes={"filters": {k: str(v) for k, v in form.filters().items()}, "rows": result.rows,
                    "truncated": result.truncated})
    out.seek(0)
    return FileResponse(out, as_attachment=True, filename=export_filename(now), content_type=XLSX)


# --- the provider's view ----------------------------------------------------------------------

PROVIDER_TABS = [
    ("todo", gettext_lazy("待接单")),
    ("doing", gettext_lazy("办理中")),
    ("pool", gettext_lazy("可认领")),
    ("done", gettext_lazy("已完成")),
]


def provider_queryset(user, key: str) -> QuerySet[Case]:
    mine = permissions.visible(user)
    match key:
        case "todo":
            return mine.filter(status=Status.DISPATCHED).order_by("deadline_at", "id")
        case "doing":
            return mine.filter(status=Status.IN_PROGRESS).order_by("deadline_at", "id")
        case "pool":
            return pool_cases(user).order_by("deadline_at", "id")
    return mine.filter(status__in=(Status.RESOLVED, Status.CLOSED)).order_by("-resolved_at", "-id")


def provider_orders(request):
    user = request.user
    keys = [k for k, _label in PROVIDER_TABS]
    key = request.GET.get("tab") if request.GET.get("tab") in keys else "todo"
    now = timezone.now()
    qs = provider_queryset(user, key).select_related("category", "org_unit")
    total = capped_count(qs)
    page = CheapPage(qs, request.GET.get("page"), PAGE_SIZE, total)
    counts = {k: count_label(capped_count(provider_queryset(user, k))) for k in keys}
    context = {
        "tabs": [(k, label, counts[k]) for k, label in PROVIDER_TABS], "tab": key, "page": page,
        "rows": [{"case": c, "requester": mask_name(c.requester_name), "phone": mask_phone(c.requester_phone),
                  "overdue": c.is_overdue(now)} for c in page],
        "nav_current": "cases",
    }
    return render(request, "cases/provider_list.html", context)


# --- case detail and the step forms ----------------------------------------------------------

@dataclass(frozen=True)
class StepSpec:
    slug: str
    action: str
    label: str
    form: type
    button: str = ""
    danger: bool = False


STEPS = [
    StepSpec("accept", Action.ACCEPT, gettext_lazy("签收"), f.AcceptForm),
    StepSpec("claim", Action.CLAIM, gettext_lazy("认领"), f.ClaimForm),
    StepSpec("dispatch", Action.DISPATCH, gettext_lazy("派单"), f.DispatchForm),
    StepSpec("resolve", Action.RESOLVE, gettext_lazy("办结"), f.ResolveForm),
    StepSpec("review", Action.REVIEW, gettext_lazy("回访"), f.ReviewForm),
    StepSpec("redispatch", Action.REDISPATCH, gettext_lazy("改派"), f.RedispatchForm),
    StepSpec("return", Action.RETURN, gettext_lazy("退单"), f.ReturnForm, danger=True),
    StepSpec("extend_request", Action.EXTEND_REQUEST, gettext_lazy("申请延期"), f.ExtendRequestForm),
    StepSpec("extend_decide", Action.EXTEND_APPROVE, gettext_lazy("审批延期"), f.ExtendDecideForm),
    StepSpec("supervise", Action.SUPERVISE, gettext_lazy("督办"), f.SuperviseForm),
    StepSpec("assign_owner", Action.ASSIGN_OWNER, gettext_lazy("包案"), f.AssignOwnerForm),
    StepSpec("merge", Action.MERGE, gettext_lazy("并单"), f.MergeForm, danger=True),
    StepSpec("close", Action.CLOSE, gettext_lazy("归档"), f.CloseForm),
    StepSpec("reopen", Action.REOPEN, gettext_lazy("重办"), f.ReopenForm, danger=True),
    StepSpec("note", Action.NOTE, gettext_lazy("备注"), f.NoteForm),
]
STEP_BY_SLUG = {s.slug: s for s in STEPS}


def step_available(user, spec: StepSpec, case: Case, pending_extension: bool) -> bool:
    return (workflow.allowed(spec.action, case.status) and permissions.may(user, spec.action, case)
            and workflow.open_now(spec.action, case.deadline_at, pending_extension, timezone.now()))


def _run_step(by: Actor, spec: StepSpec, case: Case, data: dict, user) -> None:
    version = data["version"]
    call = {
        "accept": partial(services.accept, note=data.get("note", "")),
        "claim": partial(services.claim, note=data.get("note", "")),
        "dispatch": partial(services.dispatch, handler_unit=data.get("handler_unit"),
                            handler=data.get("handler"), note=data.get("note", "")),
        "redispatch": partial(services.redispatch, handler_unit=data.get("handler_unit"),
                              handler=data.get("handler"), note=data.get("note", "")),
        "return": partial(services.return_case, reason=data.get("reason", "")),
        "resolve": partial(services.resolve, outcome=data.get("outcome", ""), note=data.get("note", "")),
        "review": partial(services.review, satisfied=data.get("satisfied"), solved=data.get("solved"),
                          rating=data.get("rating"), note=data.get("note", "")),
        "reopen": partial(services.reopen, reason=data.get("reason", "")),
        "close": partial(services.close, note=data.get("note", "")),
        "supervise": partial(services.supervise, note=data.get("note", "")),
        "assign_owner": partial(services.assign_owner, owner=data.get("owner")),
        "extend_request": partial(services.request_extension, new_deadline=data.get("new_deadline"),
                                  reason=data.get("reason", "")),
        "extend_decide": partial(services.decide_extension, approve=data.get("approve"),
                                 note=data.get("note", "")),
    }.get(spec.slug)
    if spec.slug == "note":
        if version != case.version:  # a note on a stale page is harmless, but say so consistently
            raise CaseConflict(_("工单已被他人更新"))
        services.add_note(by, case, note=data["note"])
        return
    if spec.slug == "merge":
        primary = permissions.visible(user).filter(tracking_code=data["primary"].strip().upper()).first()
        if primary is None:
            raise CaseError(_("找不到查询码为“%(c)s”的工单(或您无权查看)") % {"c": data["primary"]},
                            "primary")
        services.merge(by, case, version=version, primary=primary, note=data.get("note", ""))
        return
    call(by, case, version=version)


def similar_cases(user, *, category, org_unit, address: str, text: str, exclude: int | None = None,
                  limit: int = 8) -> list[Case]:
    """Open cases that may be the same matter (``duplicates.similar_open_cases``), those the user
    may see."""
    if category is None or org_unit is None:
        return []
    from .duplicates import similar_open_cases

    candidates = [s.case for s in similar_open_cases(category, org_unit, address, text)]
    ids = [c.pk for c in candidates if c.pk != exclude]
    allowed = set(permissions.visible(user).filter(pk__in=ids).values_list("pk", flat=True))
    return [c for c in candidates if c.pk in allowed][:limit]


def event_details(event) -> list[str]:
    """The step's data in words (派给谁, 结果, 回访答复 …) for the timeline."""
    data = event.data or {}
    lines = []
    if event.from_status and event.to_status and event.from_status != event.to_status:
        lines.append(f"{Status(event.from_status).label} → {Status(event.to_status).label}")
    target = " / ".join(x for x in (data.get("handler_unit"), data.get("handler")) if x)
    if target:
        lines.append(_("承办:%(t)s") % {"t": target})
    if data.get("outcome") in Outcome.values:
        lines.append(_("结果:%(o)s") % {"o": Outcome(data["outcome"]).label})
    if "satisfied" in data and data["satisfied"] is not None:
        lines.append(_("满意") if data["satisfied"] else _("不满意"))
    if data.get("solved") is not None and "solved" in data:
        lines.append(_("已解决") if data["solved"] else _("未解决"))
    if data.get("rating"):
        lines.append(_("评分 %(r)s") % {"r": data["rating"]})
    for key, words in (("new_deadline", _("延至 %(d)s")), ("deadline", _("重新计算办理期限:%(d)s"))):
        try:  # an extension's date, or a 重办's new deadline (its data also keeps the old one)
            when = timezone.localtime(dt.datetime.fromisoformat(data[key]))
        except (KeyError, TypeError, ValueError):
            continue
        lines.append(words % {"d": when.strftime("%Y-%m-%d %H:%M")})
    if data.get("primary"):
        lines.append(_("主工单 %(c)s") % {"c": data["primary"]})
    if data.get("owner"):
        lines.append(_("包案领导:%(o)s") % {"o": data["owner"]})
    if data.get("channel") in Channel.values:
        lines.append(_("来源:%(c)s") % {"c": Channel(data["channel"]).label})
    return lines


def _detail_context(request, case: Case, *, bound: dict | None = None, open_step: str = "",
                    conflict: str = "", error: str = "") -> dict:
    user = request.user
    now = timezone.now()
    pending = case.extensions.filter(status=ExtensionStatus.PENDING).first()
    steps = []
    for spec in STEPS:
        if not step_available(user, spec, case, pending is not None):
            continue
        form = bound.get(spec.slug) if bound else None
        steps.append({"spec": spec, "form": form or spec.form(case=case, user=user)})
    may_reveal = permissions.may_reveal(user, case)
    text = permissions.written_text(user, case)
    timeline = [{"event": e, "note": text(e.note), "details": event_details(e)}
                for e in case.events.select_related("actor").prefetch_related("attachments")]
    attachments = list(case.attachments.all())
    provider = permissions.is_provider_only(user)
    suggestions = []
    if any(s["spec"].slug == "merge" for s in steps):
        suggestions = similar_cases(user, category=case.category, org_unit=case.org_unit,
                                    address=case.address, text=f"{case.title} {case.description}",
                                    exclude=case.pk)
    return {
        "case": case, "timeline": timeline, "steps": steps, "open_step": open_step,
        "conflict": conflict, "error": error, "pending_extension": pending,
        "requester": mask_name(case.requester_name), "phone": mask_phone(case.requester_phone),
        "can_reveal": may_reveal,
        "description": text(case.description), "outcome_note": text(case.outcome_note),
        "supervision_note": text(case.supervision_note),
        "extension_reason": text(pending.reason) if pending else "",
        "before": [a for a in attachments if a.stage == AttachmentStage.BEFORE],
        "after": [a for a in attachments if a.stage == AttachmentStage.AFTER],
        "other": [a for a in attachments if a.stage == AttachmentStage.OTHER],
        "can_attach": (workflow.allowed(Action.ATTACH, case.status)
                       and permissions.may(user, Action.ATTACH, case)),
        "attach_form": (bound or {}).get("attach") or f.AttachForm(),
        "overdue": case.is_overdue(now), "due_soon": case.is_due_soon(now),
        # Sent back (重办) and not resolved again: the result and review shown are the last round's.
        "before_reopen": case.reopen_count > 0 and case.status in (Status.RECEIVED, Status.DISPATCHED,
                                                                    Status.IN_PROGRESS),
        "merged_cases": list(Case.objects.filter(merged_into=case).order_by("created_at")[:20]),
        "suggestions": suggestions,
        "provider": provider, "merged_into": case.merged_into,
        "nav_current": "cases",
    }


@require_GET
@login_required
def case_detail(request, pk: int):
    case = get_case(request.user, pk)
    return render(request, "cases/case_detail.html", _detail_context(request, case))


@require_POST
@login_required
def case_act(request, pk: int, action: str):
    user = request.user
    case = get_case(user, pk)
    spec = STEP_BY_SLUG.get(action)
    if spec is None:
        raise Http404
    form = spec.form(request.POST, case=case, user=user)
    status = 400
    if not form.is_valid():
        error = _("请检查下列标注的项目")
    else:
        try:
            _run_step(Actor.of(request), spec, case, form.cleaned_data, user)
        except CaseConflict as exc:
            fresh = get_case(user, pk)
            initial = {k: v for k, v in request.POST.items() if k not in ("version", "csrfmiddlewaretoken")}
            initial["version"] = fresh.version
            context = _detail_context(
                request, fresh, open_step=spec.slug,
                conflict=exc.message,
                bound={spec.slug: spec.form(case=fresh, user=user, initial=initial)})
            return render(request, "cases/case_detail.html", context, status=409)
        except CaseError as exc:
            status = exc.status_code
            error = exc.message
            target = exc.field if exc.field in form.fields else None
            form.add_error(target, exc.message)
        else:
            messages.success(request, _("已%(a)s:工单 %(c)s") % {"a": spec.label, "c": case.tracking_code})
            return redirect(_after_step(user, case))
    fresh = get_case(user, pk)
    context = _detail_context(request, fresh, bound={spec.slug: form}, open_step=spec.slug, error=error)
    return render(request, "cases/case_detail.html", context, status=status)


def _after_step(user, case: Case) -> str:
    """Back to the case, or to the list when the step took it out of the user's sight."""
    if permissions.visible(user).filter(pk=case.pk).exists():
        return reverse("cases:case_detail", args=[case.pk])
    return reverse("cases:case_list")


@require_POST
@login_required
def case_attach(request, pk: int):
    user = request.user
    case = get_case(user, pk)
    form = f.AttachForm(request.POST, request.FILES)
    error = _("请检查下列标注的项目")
    status = 400
    if form.is_valid():
        if not (workflow.allowed(Action.ATTACH, case.status) and permissions.may(user, Action.ATTACH, case)):
            error, status = _("您不能给这张工单上传附件"), 403
        else:
            from .attachments import attach

            try:
                attach(Actor.of(request), case, upload=form.cleaned_data["file"],
                       stage=form.cleaned_data["stage"], note=form.cleaned_data["note"])
            except CaseError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                error, status = exc.message, exc.status_code
            else:
                messages.success(request, _("已上传附件"))
                return redirect("cases:case_detail", pk=case.pk)
    fresh = get_case(user, pk)
    context = _detail_context(request, fresh, bound={"attach": form}, open_step="attach", error=error)
    return render(request, "cases/case_detail.html", context, status=status)


@require_GET
@login_required
def attachment_file(request, pk: int):
    attachment = Attachment.objects.filter(pk=pk).select_related("case").first()
    if attachment is None:
        raise Http404
    get_case(request.user, attachment.case_id)  # the same 404 when the case is not the user's
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type,
                            filename=attachment.original_name,
                            as_attachment=not attachment.content_type.startswith("image/"))
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_POST
@login_required
def case_reveal(request, pk: int):
    """Show the requester's full name and phone, once, with an audit event."""
    user = request.user
    case = get_case(user, pk)
    if not permissions.may_reveal(user, case):
        raise Http404
    with atomic():
        record(by=Actor.of(request), event_type="cases.reveal", target=case, org_unit=case.org_unit,
               detail=_("查看工单 %(c)s 诉求人完整姓名和电话") % {"c": case.tracking_code},
               changes={"fields": ["requester_name", "requester_phone"]})
    return render(request, "cases/includes/requester.html",
                  {"case": case, "requester": case.requester_name, "phone": case.requester_phone,
                   "revealed": True})


# --- intake ------------------------------------------------------------------------------------

@login_required
def case_new(request):
    user = request.user
    if not (has_cap(user, Cap.BUSINESS_WRITE) or has_cap(user, Cap.GRID_REPORT)):
        raise Http404
    form = f.IntakeForm(request.POST or None, user=user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                case = services.case_create(
                    Actor.of(request), title=data["title"], channel=data["channel"],
                    category=data["category"], org_unit=data["org_unit"], description=data["description"],
                    address=data["address"], requester_name=data["requester_name"],
                    requester_phone=data["requester_phone"], priority=data["priority"])
            except CaseError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = exc.status_code
            else:
                messages.success(request, _("已受理工单 %(c)s") % {"c": case.tracking_code})
                return redirect("cases:case_detail", pk=case.pk)
    return render(request, "cases/case_new.html", {
        "form": form, "nav_current": "cases",
        "error_fields": [str(field.label) for field in form if field.errors]}, status=status)


@login_required
def intake_similar(request):
    """The duplicate suggestions shown while the intake form is being filled (htmx)."""
    user = request.user
    if not (has_cap(user, Cap.BUSINESS_WRITE) or has_cap(user, Cap.GRID_REPORT)):
        raise Http404
    form = f.IntakeForm(request.GET, user=user)
    form.is_valid()
    data = form.cleaned_data
    cases = similar_cases(user, category=data.get("category"), org_unit=data.get("org_unit"),
                          address=data.get("address", ""),
                          text=f"{data.get('title', '')} {data.get('description', '')}".strip())
    return render(request, "cases/includes/similar.html",
                  {"similar": cases, "asked": bool(data.get("category") and data.get("org_unit"))})


# --- supervision and KPIs ----------------------------------------------------------------------

@require_GET
@login_required
def supervision(request):
    user = request.user
    if not (has_cap(user, Cap.SUPERVISE) or has_cap(user, Cap.BUSINESS_READ)):
        raise Http404
    now = timezone.now()
    supervised_qs, overdue_qs = tab_queryset(user, "supervised", now), tab_queryset(user, "overdue", now)
    supervised_count, overdue_count = capped_count(supervised_qs), capped_count(overdue_qs)
    supervised = list(supervised_qs.select_related(*LIST_FIELDS).order_by("deadline_at", "id")[:100])
    overdue = list(overdue_qs.select_related(*LIST_FIELDS).order_by("deadline_at", "id")[:100])
    owners = []
    if has_cap(user, Cap.SUPERVISE):
        leader_roles = [role for role, caps in GRANTS.items() if Cap.SUPERVISE in caps]
        streets = list(OrgUnit.objects.filter(scope_q(user, Cap.SUPERVISE, ""), kind=OrgUnitKind.STREET))
        people = User.objects.filter(memberships__role__in=leader_roles,
                                     memberships__unit__in=streets).distinct().order_by("username")
        for person in people:
            owned = Case.objects.filter(owner=person, street__in=streets).exclude(status=Status.MERGED)
            row = owned.aggregate(
                total=Count("pk"), open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
                overdue=Count("pk", filter=Q(status__in=OPEN_STATUSES, deadline_at__lt=now)),
                finished=Count("pk", filter=Q(status__in=(Status.RESOLVED, Status.CLOSED))))
            cases = list(owned.filter(status__in=OPEN_STATUSES).select_related(*LIST_FIELDS)
                         .order_by("deadline_at")[:20])
            owners.append({"person": person, **row, "cases": cases})
    def rows(cases):  # each case's own badges (the page's "overdue" is a list, not a flag)
        return [{"case": c, "overdue": c.is_overdue(now), "due_soon": c.is_due_soon(now),
                 "note": permissions.written_text(user, c)(c.supervision_note)} for c in cases]

    context = {
        "supervised": rows(supervised), "overdue": rows(overdue), "owners": owners, "now": now,
        "supervised_count": count_label(supervised_count), "overdue_count": count_label(overdue_count),
        "nav_current": "supervision",
    }
    return render(request, "cases/supervision.html", context)


KPI_COLUMNS = [
    ("response_rate", gettext_lazy("响应率"), "pct"),
    ("on_time_rate", gettext_lazy("按期办结率"), "pct"),
    ("solved_rate", gettext_lazy("解决率"), "pct"),
    ("satisfaction_rate", gettext_lazy("满意率"), "pct"),
    ("reopen_rate", gettext_lazy("重办率"), "pct"),
    ("avg_accept_hours", gettext_lazy("平均签收用时(小时)"), "hours"),
    ("avg_resolve_hours", gettext_lazy("平均办结用时(小时)"), "hours"),
]


def _period(request) -> tuple[dt.date, dt.date, f.KpiPeriodForm]:
    today = timezone.localdate()
    start, end = today.replace(month=1, day=1), today
    form = f.KpiPeriodForm(request.GET or None, initial={"start": start, "end": end})
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return start, end, form


@require_GET
@login_required
def kpi_page(request):
    user = request.user
    if not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    start, end, form = _period(request)
    tz = timezone.get_current_timezone()
    start_at = dt.datetime.combine(start, dt.time.min, tz)
    end_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tz)
    base = permissions.visible(user)
    grouped = compute_grouped(base, start_at, end_at, group_by="handler_unit")
    units = {u.pk: u for u in OrgUnit.objects.filter(pk__in=[k for k in grouped if k is not None])}
    order = sorted(units.values(), key=lambda u: (u.kind != OrgUnitKind.DEPARTMENT, u.path))
    rows = [{"unit": unit, "result": grouped[unit.pk], "values": _kpi_values(grouped[unit.pk])}
            for unit in order]
    if None in grouped:  # claimed or returned cases without a handling unit
        rows.append({"unit": None, "label": _("未指定承办单位"), "result": grouped[None],
                     "values": _kpi_values(grouped[None])})
    total = compute(base, start_at, end_at)
    rows.append({"unit": None, "label": _("合计"), "total": True, "result": total,
                 "values": _kpi_values(total)})
    context = {"form": form, "rows": rows, "columns": KPI_COLUMNS,
               "start": start, "end": end, "nav_current": "supervision"}
    return render(request, "cases/kpis.html", context)


def _kpi_values(result) -> list[dict]:
    values = []
    for name, label, kind in KPI_COLUMNS:
        value = getattr(result, name, None)
        if value is None:
            text = "—"
        elif kind == "pct":
            text = f"{value:.1f}%"  # compute() gives percentages
        else:
            text = f"{float(value):.1f}"
        values.append({"name": name, "label": label, "text": text})
    return values


# --- the in-app inbox ---------------------------------------------------------------------------

@require_GET
@login_required
def notification_list(request):
    qs = Notification.objects.filter(user=request.user).select_related("case")
    only_unread = request.GET.get("unread") == "1"
    if only_unread:
        qs = qs.filter(read_at__isnull=True)
    total = capped_count(qs)
    page = CheapPage(qs.order_by("-created_at", "-id"), request.GET.get("page"), PAGE_SIZE, total)
    context = {"page": page, "only_unread": only_unread,
               "unread": count_label(capped_count(Notification.objects.filter(user=request.user,
                                                                               read_at__isnull=True))),
               "nav_current": "cases"}
    return render(request, "cases/notifications.html", context)


def unread_count(user) -> int:
    return capped_count(Notification.objects.filter(user=user, read_at__isnull=True), 100)


@require_GET
@login_required
def notification_bell(request):
    return render(request, "cases/includes/bell.html", {"unread": unread_count(request.user)})


@require_POST
@login_required
def notification_read(request, pk: int):
    note = Notification.objects.filter(pk=pk, user=request.user).first()
    if note is None:
        raise Http404
    if note.read_at is None:
        Notification.objects.filter(pk=note.pk).update(read_at=timezone.now())
    if request.POST.get("open") == "1":
        return redirect("cases:case_detail", pk=note.case_id)
    if request.htmx:
        note.refresh_from_db()
        return render(request, "cases/includes/note_read.html",
                      {"n": note, "unread": unread_count(request.user)})
    return redirect("cases:notifications")


@require_POST
@login_required
def notification_read_all(request):
    n = Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    messages.success(request, _("已将 %(n)d 条消息标为已读") % {"n": n})
    return redirect("cases:notifications")
