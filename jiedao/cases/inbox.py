"""The staff inboxes' queries: who sees which cases in which tab, the filters, and the first
page of a tab at a million cases (docs/cases.md, "Speed at 1,000,000 cases").

Each tab is a union of branches (``tab_branches``), each branch served by one index; a branch
with IN-lists is cut into one index range per value (``split``) and the first ids of every
range are merged in one statement (``first_ids``); counts stop at ``COUNT_CAP``. The list view
(views.case_list) and bench/cases_inbox.py both call ``inbox_page``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.forms import ChoiceField
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from jiedao.accounts.access import grants, has_cap
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.core.masking import mask_name
from jiedao.core.models import OrgUnit

from . import forms as f
from . import permissions
from .models import OPEN_STATUSES, Case, Status

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
