"""Staff pages of the case loop (工单): inboxes, case detail with its timeline and step forms,
intake, supervision, KPIs, export, the in-app inbox, and the provider's phone view.

Views fetch through the access layer (``permissions.visible``; the inboxes shape its branches
per tab so each is served by one index),
validate a form, call one service and answer. Every step form posts the version the user saw;
a stale one gets "已被他人更新,请刷新" and the page re-rendered from the fresh case.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.forms import ChoiceField
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from jiedao.accounts.access import grants, has_cap, scope_q
from jiedao.accounts.models import User
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.audit.trail import Actor, atomic, record
from jiedao.core.masking import mask_name, mask_phone
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import forms as f
from . import permissions, services, workflow
from .export import EXPORT_LIMIT, XLSX, export_filename, write_cases_xlsx
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

PAGE_SIZE = 30
# Counts stop here: counting a million rows for a tab badge costs more than it tells.
COUNT_CAP = 1000
# 督办 shows until the case is archived (CaseQuerySet.supervised), as an IN list the index can use.
LIVE_STATUSES = (*OPEN_STATUSES, Status.RESOLVED)
LIST_FIELDS = ("category", "org_unit", "handler_unit", "handler")


# --- who sees what: permissions.visible, shaped for the inbox queries -------------------------

def scoped_union(user, condition: Q) -> QuerySet[Case]:
    """The visible cases meeting ``condition``. With one visibility branch (a street-wide scope)
    one indexed query does; otherwise each branch of ``permissions.visible_branches`` (place,
    handling unit, own cases) is asked on its own and the ids united — an OR across columns
    would send SQLite through a whole street."""
    branches = permissions.visible_branches(user)
    if len(branches) <= 1:
        return Case.objects.filter(permissions.any_of(branches) & condition)
    parts = [Case.objects.filter(branch & condition).order_by().values_list("pk", flat=True)
             for branch in branches]
    qs = Case.objects.filter(pk__in=parts[0].union(*parts[1:], all=True))
    qs._count_parts = parts  # for capped_count; chaining drops it, and then it counts plainly
    return qs


def pool_cases(user) -> QuerySet[Case]:
    """Open service orders in the provider's communities that nobody holds yet (认领/抢单)."""
    return Case.objects.filter(permissions.claimable_q(user))


def get_case(user, pk: int) -> Case:
    """One case the user may see (or, for a provider, claim); absent and not-yours are one 404."""
    try:
        return permissions.get_case_or_404(user, pk=pk)
    except Http404:
        if not permissions.is_provider_only(user):
            raise
    case = pool_cases(user).select_related("category", "street", "org_unit").filter(pk=pk).first()
    if case is None:
        raise Http404
    return case


def _my_units(user, cap: str = Cap.BUSINESS_WRITE) -> list[int]:
    return [unit_id for role, _path, unit_id in grants(user) if cap in GRANTS.get(role, ())]


# --- the inboxes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    ordering: tuple[str, ...]
    needs_write: bool = False


TABS = [
    Tab("dispatch", gettext_lazy("待派单"), ("deadline_at", "id"), needs_write=True),
    Tab("mine", gettext_lazy("我的待办"), ("deadline_at", "id"), needs_write=True),
    Tab("due_soon", gettext_lazy("即将到期"), ("deadline_at", "id")),
    Tab("overdue", gettext_lazy("已超期"), ("deadline_at", "id")),
    Tab("supervised", gettext_lazy("督办"), ("deadline_at", "id")),
    Tab("review", gettext_lazy("待回访"), ("deadline_at", "id"), needs_write=True),
    Tab("all", gettext_lazy("全部"), ("-created_at", "-id")),
]
TAB_BY_KEY = {tab.key: tab for tab in TABS}


def tab_queryset(user, key: str, now=None) -> QuerySet[Case]:
    """One inbox. Each is written so one index serves it (see ``docs/readme/cases-pages.md``)."""
    now = now or timezone.now()
    base = permissions.visible(user)
    match key:
        case "dispatch":  # where one may dispatch ⊆ where one may read: no visibility OR needed
            return Case.objects.filter(permissions.units_q(user, Cap.BUSINESS_WRITE, handler_too=False),
                                       status=Status.RECEIVED)
        case "mine":
            working = (Status.DISPATCHED, Status.IN_PROGRESS)
            by_person = Case.objects.filter(handler=user, status__in=working).values("pk")
            by_unit = Case.objects.filter(handler__isnull=True, handler_unit_id__in=_my_units(user),
                                          status__in=working).values("pk")
            return base.filter(pk__in=by_person.union(by_unit, all=True))
        case "due_soon":
            soon = now + dt.timedelta(hours=settings.JIEDAO_CASE_DUE_SOON_HOURS)
            return scoped_union(user, Q(status__in=OPEN_STATUSES, deadline_at__gte=now, deadline_at__lt=soon))
        case "overdue":
            return scoped_union(user, Q(status__in=OPEN_STATUSES, deadline_at__lt=now))
        case "supervised":
            return scoped_union(user, Q(supervised_at__isnull=False, status__in=LIVE_STATUSES))
        case "review":
            return Case.objects.filter(permissions.units_q(user, Cap.BUSINESS_WRITE, handler_too=False),
                                       status=Status.RESOLVED)
    return base


def tab_branches(user, key: str, now=None) -> list[Q]:
    """The same rows as ``tab_queryset(user, key)``, as the conditions whose OR it is — each
    branch of the user's scope with the tab's condition — so that the list can ask each on its
    own (``first_ids``). ``tests/test_cases_pages.py`` checks both give the same cases."""
    now = now or timezone.now()
    match key:
        case "dispatch" | "review":
            status = Status.RECEIVED if key == "dispatch" else Status.RESOLVED
            return [b & Q(status=status)
                    for b in permissions.scope_branches(user, Cap.BUSINESS_WRITE, handler_too=False)]
        case "mine":
            # Visible by construction: handler = user is always visible, and a unit where one
            # may write is a unit where one may read (every role granting BUSINESS_WRITE grants
            # BUSINESS_READ), whose handled cases lie in its street.
            working = (Status.DISPATCHED, Status.IN_PROGRESS)
            return [Q(handler_id=user.pk, status__in=working),
                    Q(handler__isnull=True, handler_unit_id__in=_my_units(user), status__in=working)]
        case "due_soon":
            soon = now + dt.timedelta(hours=settings.JIEDAO_CASE_DUE_SOON_HOURS)
            condition = Q(status__in=OPEN_STATUSES, deadline_at__gte=now, deadline_at__lt=soon)
        case "overdue":
            condition = Q(status__in=OPEN_STATUSES, deadline_at__lt=now)
        case "supervised":
            condition = Q(supervised_at__isnull=False, status__in=LIVE_STATUSES)
        case _:
            condition = Q()
    return [b & condition for b in permissions.visible_branches(user)]


# Columns whose IN-lists are asked one value at a time: each (unit, status) pair is one range of
# an index in deadline (or intake) order, and SQLite and PostgreSQL 15 read an IN-list of them
# as a set to sort — every overdue case of a street sorted for 30 rows.
EXPAND_COLUMNS = frozenset({"street_id", "org_unit_id", "handler_unit_id", "handler_id", "status"})
MAX_ATOMS = 48


def _and_children(q: Q) -> list[tuple[str, object]] | None:
    """The (lookup, value) pairs of a plain AND of conditions; None for anything else."""
    if q.negated or (q.connector != Q.AND and len(q.children) > 1):
        return None
    pairs: list[tuple[str, object]] = []
    for child in q.children:
        if isinstance(child, Q):
            inner = _and_children(child)
            if inner is None:
                return None
            pairs.extend(inner)
        else:
            pairs.append(child)
    return pairs


@dataclass(frozen=True)
class Part:
    """Cases of ``qs`` with ``columns`` equal to one of the tuples in ``values`` — asked as one
    index range per tuple (``split``)."""
    qs: QuerySet
    columns: tuple[str, ...] = ()
    values: tuple[tuple, ...] = ((),)


def split(qs: QuerySet, branch: Q) -> Part:
    """``qs`` filtered by ``branch``, its IN-lists on ``EXPAND_COLUMNS`` taken out as one value per
    index range; ``branch`` left whole when it is not a plain AND or would give more than
    ``MAX_ATOMS`` ranges."""
    pairs = _and_children(branch)
    if pairs is None:
        return Part(qs.filter(branch))
    common, columns, combos = Q(), [], [()]
    for lookup, value in pairs:
        column, _sep, op = lookup.partition("__")
        if column in EXPAND_COLUMNS and op == "in":
            columns.append(column)
            combos = [combo + (v,) for combo in combos for v in sorted(set(value))]
        else:
            common &= Q((lookup, value))
    if len(combos) > MAX_ATOMS:
        return Part(qs.filter(branch))
    return Part(qs.filter(common), tuple(columns), tuple(combos))


def _where(qs: QuerySet) -> tuple[str, list] | None:
    """The WHERE condition of a plain ``Case`` queryset; "" for all rows, None for none."""
    query = qs.query
    try:
        sql, params = query.get_compiler(connection=connection).compile(query.where)
    except FullResultSet:
        return "", []
    except EmptyResultSet:
        return None
    return sql, list(params)


def first_ids(parts: list[Part], ordering: tuple[str, ...], start: int, stop: int) -> list[int]:
    """Ids ``start:stop`` of the union of ``parts`` in ``ordering`` (a column then "id", both
    ascending or both descending). Each index range is asked for its first ``stop`` rows in its
    own order, the ranges united and ordered in one statement: a few index ranges read, never a
    sort of every matching case."""
    qn = connection.ops.quote_name
    direction = "DESC" if ordering[0].startswith("-") else "ASC"
    table, key = qn(Case._meta.db_table), qn(ordering[0].lstrip("-"))
    head = f"SELECT {table}.{qn('id')}, {table}.{key} FROM {table} WHERE "
    tail = f" ORDER BY {table}.{key} {direction}, {table}.{qn('id')} {direction} LIMIT {int(stop)}"
    selects, params = [], []
    for part in parts:
        where = _where(part.qs)
        if where is None:
            continue
        conditions = ([f"({where[0]})"] if where[0] else []) + [f"{table}.{qn(c)} = %s" for c in part.columns]
        body = f"{head}{' AND '.join(conditions) or '1 = 1'}{tail}"
        for combo in part.values:
            selects.append(f"SELECT * FROM ({body}) AS r{len(selects)}")
            params.extend([*where[1], *combo])
    if not selects:
        return []
    sql = (" UNION ".join(selects) + f" ORDER BY 2 {direction}, 1 {direction} LIMIT %s OFFSET %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, stop - start, start])
        return [row[0] for row in cursor.fetchall()]


def tabs_for(user) -> list[Tab]:
    can_write = has_cap(user, Cap.BUSINESS_WRITE)
    return [tab for tab in TABS if can_write or not tab.needs_write]


def capped_count(qs: QuerySet, cap: int = COUNT_CAP) -> int:
    """COUNT over at most ``cap`` rows (SELECT COUNT(*) FROM (… LIMIT cap)); for a union of
    branches, at most ``cap`` ids of each, united here (exact below the cap)."""
    parts = getattr(qs, "_count_parts", None)
    if parts is not None:
        ids: set[int] = set()
        for part in parts:
            ids.update(part[:cap])
        return min(len(ids), cap)
    return qs.order_by().values("pk")[:cap].count()


def count_label(n: int, cap: int = COUNT_CAP) -> str:
    return f"{cap - 1}+" if n >= cap else str(n)


def _exact_code(qs: QuerySet[Case], text: str) -> QuerySet[Case] | None:
    """``qs``'s case with this tracking code when ``text`` is a whole one that it holds."""
    code = text.strip().upper()
    if len(code) == 10 and code.isalnum():
        exact = qs.filter(tracking_code=code)
        if exact.exists():
            return exact
    return None


def text_search(qs: QuerySet[Case], text: str) -> QuerySet[Case]:
    """Chinese full-text search (``search.search``); a tracking code typed whole also matches."""
    from .search import search

    exact = _exact_code(qs, text)
    return exact if exact is not None else search(qs, text)


def filter_q(data: dict, now=None) -> Q:
    """The form's filters but the search box, as one condition."""
    q = Q()
    for name, column in (("kind", "kind"), ("category", "category_id"), ("status", "status"),
                         ("channel", "channel")):
        if data.get(name):
            q &= Q(**{column: data[name]})
    if data.get("place"):
        unit = OrgUnit.objects.filter(pk=data["place"]).first()
        ids = permissions.subtree_ids(unit.path) if unit else []
        q &= Q(org_unit_id__in=ids)
    tz = timezone.get_current_timezone()
    if data.get("date_from"):
        q &= Q(created_at__gte=dt.datetime.combine(data["date_from"], dt.time.min, tz))
    if data.get("date_to"):
        q &= Q(created_at__lt=dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time.min, tz))
    if data.get("overdue"):
        q &= Q(status__in=OPEN_STATUSES, deadline_at__lt=now or timezone.now())
    return q


def apply_filters(qs: QuerySet[Case], data: dict, now=None) -> QuerySet[Case]:
    qs = qs.filter(filter_q(data, now))
    if data.get("q"):
        qs = text_search(qs, data["q"].strip())
    return qs


class CheapPage:
    """What includes/pager.html needs, without COUNT(*) over the whole list: one row more
    than a page tells whether there is a next page; the page count comes from a capped count."""

    def __init__(self, qs: QuerySet | None, number, size: int, total: int, *, fetch=None) -> None:
        """``fetch(start, stop)``, when given, returns those rows instead of slicing ``qs``."""
        try:
            self.number = max(1, int(number))
        except (TypeError, ValueError):
            self.number = 1
        start = (self.number - 1) * size
        rows = fetch(start, start + size + 1) if fetch is not None else list(qs[start:start + size + 1])
        self.object_list = rows[:size]
        self.has_next_flag = len(rows) > size
        pages = (total + size - 1) // size
        self.paginator = type("P", (), {"num_pages": f"{pages}+" if total >= COUNT_CAP else max(pages, 1),
                                        "count": total})()

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_next(self) -> bool:
        return self.has_next_flag

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _list_rows(cases, user, now) -> list[dict]:
    rows, badges = [], {}
    for c in cases:
        row = {"case": c, "requester": mask_name(c.requester_name), "overdue": c.is_overdue(now),
               "due_soon": c.is_due_soon(now), "url": reverse("cases:case_detail", args=[c.pk])}
        # The status badges depend on these alone: rendered once per combination, not per row.
        key = (c.status, row["overdue"], row["due_soon"], c.supervised_at is not None, c.priority)
        if key not in badges:
            badges[key] = render_to_string("cases/includes/status.html", {
                "case": c, "overdue": row["overdue"], "due_soon": row["due_soon"]})
        row["status_html"] = badges[key]
        rows.append(row)
    return rows


def _options(choices, selected: list[str]) -> list[str]:
    out = []
    for value, label in choices:
        if isinstance(label, (list, tuple)):
            out.append(f'<optgroup label="{escape(value)}">')
            out.extend(_options(label, selected))
            out.append("</optgroup>")
            continue
        value = "" if value is None else str(value)
        chosen = not selected[1] and value == selected[0]
        selected[1] = selected[1] or chosen
        out.append(f'<option value="{escape(value)}"{" selected" if chosen else ""}>{escape(label)}</option>')
    return out


def select_html(field) -> str:
    """A filter ``<select>`` as Django's Select widget writes it (name, id, the bound value
    selected, ``aria-invalid`` on an error), built in Python: through the widget templates the
    filter form's few hundred options were most of the inbox page's rendering time."""
    value = field.value()
    selected = ["" if value is None else str(value), False]
    invalid = f' aria-invalid="true" aria-describedby="{escape(field.auto_id)}_error"' if field.errors else ""
    return mark_safe(f'<select name="{escape(field.html_name)}"{invalid} id="{escape(field.auto_id)}">'
                     + "".join(_options(field.field.choices, selected)) + "</select>")


def filter_widgets(form) -> list[tuple]:
    """(bound field, its widget HTML) for the filter bar but the search box and the check box."""
    return [(field, select_html(field) if isinstance(field.field, ChoiceField) else str(field))
            for field in form if field.name not in ("q", "overdue")]


def _filtered(request, tab_key: str, now):
    form = f.CaseFilterForm(request.GET or None, user=request.user)
    data = form.filters()
    qs = apply_filters(tab_queryset(request.user, tab_key, now), data, now)
    return form, qs


def _rows_by_ids(ids: list[int]) -> list[Case]:
    """The list's cases for ``ids``, in that order, with what the rows show (one query by pk)."""
    by_pk = Case.objects.select_related(*LIST_FIELDS).in_bulk(ids)
    return [by_pk[pk] for pk in ids if pk in by_pk]


def inbox_page(user, tab_key: str, params, page_number, now):
    """One inbox page as the list asks the database: the filter form (bound to ``params`` when
    there are any), the tab's capped count and the page of cases. ``bench/cases_inbox.py``
    measures this very function.

    The page's ids are read first without joins — each branch of the tab (``tab_branches``)
    split into one index range per value (``split``) and read in index order (``first_ids``) — then
    the rows by id. A search asks each branch whole (``search.search``), counted by
    ``search.capped_ids`` where it applies."""
    form = f.CaseFilterForm(params or None, user=user)
    filters = form.filters()
    ordering = TAB_BY_KEY[tab_key].ordering
    condition = filter_q(filters, now)
    branches = tab_branches(user, tab_key, now)
    text = (filters.get("q") or "").strip()
    total = None
    if text:
        from .search import capped_ids, search

        exact = _exact_code(tab_queryset(user, tab_key, now).filter(condition), text)
        if exact is not None:
            counted = [exact]
        else:
            plain = [Case.objects.filter(branch & condition) for branch in branches]
            counted = [search(qs, text) for qs in plain]
            ids = [capped_ids(qs, text, COUNT_CAP) for qs in plain]
            if None not in ids:
                total = min(len(set().union(*ids)), COUNT_CAP)
        parts = [Part(qs) for qs in counted]
    else:
        counted = [Case.objects.filter(branch & condition) for branch in branches]
        parts = [split(Case.objects.filter(condition), branch) for branch in branches]
    if total is None:
        total = _capped_union_count(counted)

    def fetch(start, stop):
        return _rows_by_ids(first_ids(parts, ordering, start, stop)) if parts else []
    return form, total, CheapPage(None, page_number, PAGE_SIZE, total, fetch=fetch)


def _capped_union_count(querysets: list[QuerySet], cap: int = COUNT_CAP) -> int:
    """How many cases the union of ``querysets`` holds, counted up to ``cap`` (exact below it):
    one capped COUNT for one part; for several, at most ``cap`` ids of each, united and counted
    by the database in one statement (the ids never come to Python)."""
    if not querysets:
        return 0
    if len(querysets) == 1:
        return capped_count(querysets[0], cap)
    selects, params = [], []
    for qs in querysets:
        try:
            sql, part_params = qs.order_by().values("pk")[:cap].query.sql_with_params()
        except EmptyResultSet:
            continue
        selects.append(f"SELECT * FROM ({sql}) AS c{len(selects)}")
        params.extend(part_params)
    if not selects:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({' UNION '.join(selects)}) AS united", params)
        return min(cursor.fetchone()[0], cap)


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
    tab_key = request.GET.get("tab") or tabs[0].key
    if tab_key not in {t.key for t in tabs}:
        tab_key = tabs[0].key
    tab = TAB_BY_KEY[tab_key]
    form, total, page = inbox_page(user, tab_key, request.GET, request.GET.get("page"), now)
    # The other tabs' counts arrive by htmx right after the list (case_tab_counts): the list
    # does not wait for six more counts.
    context = {
        "form": form, "filter_widgets": filter_widgets(form),
        "tabs": [(t, count_label(total) if t.key == tab_key else "") for t in tabs], "tab": tab,
        "rows": _list_rows(page, user, now), "page": page, "total": count_label(total),
        "can_create": has_cap(user, Cap.BUSINESS_WRITE) or has_cap(user, Cap.GRID_REPORT),
        "export_limit": EXPORT_LIMIT, "nav_current": "cases",
    }
    partial_only = (request.htmx and not request.htmx.history_restore_request
                    and request.htmx.target == "case-table")
    template = "cases/case_list.html#case_table" if partial_only else "cases/case_list.html"
    return render(request, template, context)


@require_GET
@login_required
def case_tab_counts(request):
    """The inbox tabs with their counts (loaded by htmx after the list)."""
    user = request.user
    if permissions.is_provider_only(user) or not has_cap(user, Cap.BUSINESS_READ):
        raise Http404
    now = timezone.now()
    tabs = tabs_for(user)
    tab_key = request.GET.get("tab") if request.GET.get("tab") in {t.key for t in tabs} else tabs[0].key
    counts = [(t, count_label(_capped_union_count([Case.objects.filter(branch)
                                                   for branch in tab_branches(user, t.key, now)])))
              for t in tabs]
    return render(request, "cases/case_list.html#tab_nav",
                  {"tabs": counts, "tab": TAB_BY_KEY[tab_key], "counted": True})


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
    if not workflow.allowed(spec.action, case.status) or not permissions.may(user, spec.action, case):
        return False
    if spec.slug == "extend_request":
        return not pending_extension and timezone.now() <= case.deadline_at
    if spec.slug == "extend_decide":
        return pending_extension
    return True


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
    if data.get("new_deadline"):
        try:
            when = timezone.localtime(dt.datetime.fromisoformat(data["new_deadline"]))
            lines.append(_("延至 %(d)s") % {"d": when.strftime("%Y-%m-%d %H:%M")})
        except (TypeError, ValueError):
            pass
    if data.get("primary"):
        lines.append(_("主工单 %(c)s") % {"c": data["primary"]})
    if data.get("owner"):
        lines.append(_("包案领导:%(o)s") % {"o": data["owner"]})
    if data.get("channel") in Channel.values:
        lines.append(_("来源:%(c)s") % {"c": Channel(data["channel"]).label})
    return lines


def may_reveal(user, case: Case) -> bool:
    return (has_cap(user, Cap.REVEAL_PERSONAL, case.org_unit)
            or (case.handler_unit is not None and has_cap(user, Cap.REVEAL_PERSONAL, case.handler_unit)))


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
    timeline = [{"event": e, "details": event_details(e)}
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
        "can_reveal": not provider and may_reveal(user, case),
        "before": [a for a in attachments if a.stage == AttachmentStage.BEFORE],
        "after": [a for a in attachments if a.stage == AttachmentStage.AFTER],
        "other": [a for a in attachments if a.stage == AttachmentStage.OTHER],
        "can_attach": (workflow.allowed(Action.ATTACH, case.status)
                       and permissions.may(user, Action.ATTACH, case)),
        "attach_form": (bound or {}).get("attach") or f.AttachForm(),
        "overdue": case.is_overdue(now), "due_soon": case.is_due_soon(now),
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
                conflict=_("已被他人更新,请刷新。") + " " + exc.message,
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
    if permissions.is_provider_only(user) or not may_reveal(user, case):
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
    return render(request, "cases/case_new.html", {"form": form, "nav_current": "cases"}, status=status)


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
    context = {
        "supervised": supervised, "overdue": overdue, "owners": owners, "now": now,
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
        return render(request, "cases/includes/note.html", {"n": note})
    return redirect("cases:notifications")


@require_POST
@login_required
def notification_read_all(request):
    n = Notification.objects.filter(user=request.user, read_at__isnull=True).update(read_at=timezone.now())
    messages.success(request, _("已将 %(n)d 条消息标为已读") % {"n": n})
    return redirect("cases:notifications")
