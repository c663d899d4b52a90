"""The staff inboxes' queries: who sees which cases in which tab, the filters, and the first
page of a tab at a million cases (docs/cases.md, "Speed at 1,000,000 cases").

Each tab is a union of branches (``tab_branches``), each branch served by one index; a branch
with IN-lists is cut into one index range per value (``split``) and the first ids of every
range are merged in one statement (``first_ids``); counts stop at ``COUNT_CAP`` (``count_parts``,
over the same ranges). The list view (views.case_list) and bench/cases_inbox.py both call
``inbox_page``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection, models
from django.db.models import Q, QuerySet
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_init, pre_init
from django.forms import ChoiceField
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, gettext_lazy

from jiedao.accounts.access import grants, has_cap, scope_paths
from jiedao.accounts.roles import GRANTS, Cap
from jiedao.core.masking import mask_name
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import forms as f
from . import lookups, permissions
from .models import OPEN_STATUSES, Case, CaseKind, CaseSearchDoc, Category, Channel, Status

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


def tab_branches(user, key: str, now=None, visible: list[Q] | None = None) -> list[Q]:
    """The same rows as ``tab_queryset(user, key)``, as the conditions whose OR it is — each
    branch of the user's scope with the tab's condition — so that the list can ask each on its
    own (``first_ids``). ``tests/test_cases_pages.py`` checks both give the same cases.
    ``visible``: ``permissions.visible_branches(user)`` when the caller has it already (the tab
    counts ask it once for every tab: it reads the user's own cases outside their units)."""
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
    if visible is None:
        visible = permissions.visible_branches(user)
    return [b & condition for b in visible]


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


def _ranges(part: Part, select: str, tail: str = "") -> tuple[str, list] | None:
    """One statement giving ``select`` (columns of the case table) from each index range of
    ``part``, each range ended by ``tail`` (ORDER BY … LIMIT …), the ranges one after the other;
    None when ``part`` holds nothing.

    SQLite: one ``SELECT`` per range, joined by UNION ALL (the ranges are disjoint). PostgreSQL:
    the values as a VALUES list and the range as one LATERAL subquery — the same rows, but
    planned once rather than once per range (two dozen ranges took 5 ms of planning per
    statement, more than running them)."""
    qn = connection.ops.quote_name
    table = qn(Case._meta.db_table)
    where = _where(part.qs)
    if where is None:
        return None
    common = [f"({where[0]})"] if where[0] else []
    columns = [f"{table}.{qn(c)}" for c in part.columns]
    if connection.vendor != "postgresql" or not part.columns:
        conditions = common + [f"{c} = %s" for c in columns]
        body = f"SELECT {select} FROM {table} WHERE {' AND '.join(conditions) or '1 = 1'}"
        arms = [f"SELECT * FROM ({body}{tail}) AS a{i}" for i in range(len(part.values))]
        return " UNION ALL ".join(arms), [p for combo in part.values for p in (*where[1], *combo)]
    types = [Case._meta.get_field(c).db_type(connection) for c in part.columns]
    row = "(" + ", ".join(f"CAST(%s AS {t})" for t in types) + ")"
    names = ", ".join(f"v{i}" for i in range(len(columns)))
    conditions = common + [f"{c} = v.v{i}" for i, c in enumerate(columns)]
    sql = (f"SELECT r.* FROM (VALUES {', '.join([row] * len(part.values))}) AS v({names}) "
           f"CROSS JOIN LATERAL (SELECT {select} FROM {table} WHERE {' AND '.join(conditions)}{tail}) AS r")
    return sql, [*(p for combo in part.values for p in combo), *where[1]]


def first_ids(parts: list[Part], ordering: tuple[str, ...], start: int, stop: int) -> list[int]:
    """Ids ``start:stop`` of the union of ``parts`` in ``ordering`` (a column then "id", both
    ascending or both descending). Each index range is asked for its first ``stop`` rows in its
    own order, the ranges united and ordered in one statement: a few index ranges read, never a
    sort of every matching case."""
    qn = connection.ops.quote_name
    direction = "DESC" if ordering[0].startswith("-") else "ASC"
    table, key = qn(Case._meta.db_table), qn(ordering[0].lstrip("-"))
    select = f"{table}.{qn('id')}, {table}.{key}"
    tail = f" ORDER BY {table}.{key} {direction}, {table}.{qn('id')} {direction} LIMIT {int(stop)}"
    selects, params = [], []
    for part in parts:
        ranges = _ranges(part, select, tail)
        if ranges is not None:
            selects.append(f"SELECT * FROM ({ranges[0]}) AS p{len(selects)}")
            params.extend(ranges[1])
    if not selects:
        return []
    sql = (" UNION ".join(selects)
           + f" ORDER BY 2 {direction}, 1 {direction} LIMIT {int(stop - start)} OFFSET {int(start)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _count_sql(parts: list[Part], cap: int) -> tuple[list[str], list, list[str], list]:
    """``count_parts``'s statements for ``parts``: one capped COUNT per part (a scalar subquery
    each) and its capped ids, to unite when more than one part holds some."""
    qn = connection.ops.quote_name
    table, limit = qn(Case._meta.db_table), f" LIMIT {int(cap)}"
    counts, ids, count_params, id_params = [], [], [], []
    for part in parts:
        ones, each = _ranges(part, "1", limit) or (None, None), _ranges(part, f"{table}.{qn('id')}", limit)
        if each is None:
            continue
        i = len(counts)
        counts.append(f"(SELECT COUNT(*) FROM (SELECT * FROM ({ones[0]}) AS r{i}{limit}) AS c{i})")
        count_params.extend(ones[1])
        ids.append(f"SELECT * FROM (SELECT * FROM ({each[0]}) AS r{i}{limit}) AS c{i}")
        id_params.extend(each[1])
    return counts, count_params, ids, id_params


def count_parts(parts: list[Part], cap: int = COUNT_CAP) -> int:
    """How many cases the union of ``parts`` holds, counted up to ``cap`` (exact below it).

    First each part is counted on its own, up to ``cap``, in one statement: its index ranges
    (``split``; disjoint, one value each) read one after the other until ``cap`` rows
    (``_ranges``), selecting nothing but a constant so that the index alone answers
    (PostgreSQL's index-only scans, SQLite's covering indexes). A part at the cap settles it;
    so does a single part. Only when every part holds fewer than ``cap`` are their ids united,
    in a second statement that reads fewer than ``cap`` rows per part. Asked per range, each is
    an index range on both databases: with its IN-lists whole, PostgreSQL read the LIMIT of an
    overdue community tab by a sequential scan (tens of thousands of rows)."""
    return count_many([parts], cap)[0]


def count_many(unions: list[list[Part]], cap: int = COUNT_CAP) -> list[int]:
    """``count_parts`` of each list of parts in ``unions`` (the tab counts), in two statements
    at most whatever their number: every part's capped count as one column of one ``SELECT``,
    then the unions that need their ids united, again one column each. Each column is the same
    subquery ``count_parts`` asks; one statement instead of one or two per tab saves each a
    round trip and the statement's overhead (on PostgreSQL parsing, planning and the executor's
    start)."""
    built = [_count_sql(parts, cap) for parts in unions]
    columns = [sql for counts, _p, _i, _ip in built for sql in counts]
    if not columns:
        return [0] * len(unions)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", [p for _c, params, _i, _ip in built for p in params])
        row = cursor.fetchone()
        results: list[int] = []
        united, united_params, pending, at = [], [], [], 0
        for i, (counts, _params, ids, id_params) in enumerate(built):
            each, at = row[at:at + len(counts)], at + len(counts)
            if not each:
                results.append(0)
            elif max(each) >= cap:
                results.append(cap)
            elif sum(1 for n in each if n) <= 1:
                results.append(max(each))
            else:
                results.append(0)
                pending.append(i)
                united.append(f"(SELECT COUNT(*) FROM ({' UNION '.join(ids)}) AS united{i})")
                united_params.extend(id_params)
        if united:
            cursor.execute(f"SELECT {', '.join(united)}", united_params)
            for i, n in zip(pending, cursor.fetchone(), strict=True):
                results[i] = min(n, cap)
    return results


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


def text_search(qs: QuerySet[Case], text: str, user) -> QuerySet[Case]:
    """Chinese full-text search (``search.search``), by the requester's name and phone too where
    ``user`` sees them (``permissions.finds_by_requester``); a tracking code typed whole also
    matches."""
    from .search import search

    exact = _exact_code(qs, text)
    return exact if exact is not None else search(qs, text, personal=permissions.finds_by_requester(user))


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


def apply_filters(qs: QuerySet[Case], data: dict, user, now=None) -> QuerySet[Case]:
    qs = qs.filter(filter_q(data, now))
    if data.get("q"):
        qs = text_search(qs, data["q"].strip(), user)
    return qs


class CheapPage:
    """What includes/pager.html needs, without COUNT(*) over the whole list: one row more
    than a page tells whether there is a next page; the page count comes from a capped count."""

    def __init__(self, qs: QuerySet | None, number, size: int, total: int | None, *, fetch=None) -> None:
        """``fetch(start, stop)``, when given, returns those rows instead of slicing ``qs``.
        ``total`` None: not counted yet (a deferred count); the pager then names no page count."""
        try:
            self.number = max(1, int(number))
        except (TypeError, ValueError):
            self.number = 1
        if total is not None and total < COUNT_CAP:  # past the last page (an old link): the last
            self.number = min(self.number, max((total + size - 1) // size, 1))
        start = (self.number - 1) * size
        rows = fetch(start, start + size + 1) if fetch is not None else list(qs[start:start + size + 1])
        self.object_list = rows[:size]
        self.has_next_flag = len(rows) > size
        if total is None:
            num_pages = None
        else:
            pages = (total + size - 1) // size
            num_pages = f"{pages}+" if total >= COUNT_CAP else max(pages, 1)
        self.paginator = type("P", (), {"num_pages": num_pages, "count": total})()

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


_ROW = ('<tr data-case="{code}">\n'
        '          <td data-label="{l_code}" class="mono">{code}</td>\n'
        '          <td data-label="{l_title}" class="title-cell"><a href="{url}">{title}</a></td>\n'
        '          <td data-label="{l_category}">{category}</td>\n'
        '          <td data-label="{l_place}">{place}</td>\n'
        '          <td data-label="{l_requester}">{requester}</td>\n'
        '          <td data-label="{l_handler}">{handler}</td>\n'
        '          <td data-label="{l_status}">{status}</td>\n'
        '          <td data-label="{l_deadline}"><time datetime="{deadline_iso}">{deadline}</time></td>\n'
        '          <td data-label="{l_created}">{created}</td>\n'
        '        </tr>')


def _esc(value) -> str:
    return html.escape(str(value))


_ROW_LABELS = (("l_code", "查询码"), ("l_title", "标题"), ("l_category", "分类"), ("l_place", "社区/网格"),
               ("l_requester", "诉求人"), ("l_handler", "承办"), ("l_status", "状态"), ("l_deadline", "期限"),
               ("l_created", "受理时间"))


def _row_html(case, row: dict, labels: dict, this_year: int) -> str:
    """One ``<tr>`` of the list, as the template wrote it before (``tests/test_cases_pages.py``
    renders both and compares): thirty rows through the template engine were a quarter of the
    page's CPU. ``_esc`` is Django's ``escape`` without its lazy-string wrapper (the same
    ``html.escape`` of ``str(value)``): eight calls a row. A deadline in another year than
    ``this_year`` shows its year (the 2021 cases' "05-10 17:00" read as this May)."""
    if case.handler_id is not None and case.handler is not None:
        handler = _esc(case.handler.full_name or case.handler.username)
    elif case.handler_unit_id is not None and case.handler_unit is not None:
        handler = _esc(case.handler_unit.name)
    else:
        handler = "—"
    deadline = timezone.localtime(case.deadline_at)
    return _ROW.format(
        **labels, code=_esc(case.tracking_code), url=_esc(row["url"]), title=_esc(case.title),
        category=_esc(case.category), place=_esc(case.org_unit.name),
        requester=_esc(row["requester"] or "—"), handler=handler, status=row["status_html"],
        # the template's |date:"c", "m-d H:i" (or "Y-m-d H:i") and "Y-m-d H:i": numbers only
        deadline_iso=deadline.isoformat(),
        deadline=deadline.strftime("%m-%d %H:%M" if deadline.year == this_year else "%Y-%m-%d %H:%M"),
        created=timezone.localtime(case.created_at).strftime("%Y-%m-%d %H:%M"))


_BADGES: dict = {}  # (language, status, overdue, due soon, supervised, priority) -> the badges' HTML


def _list_rows(cases, user, now) -> list[dict]:
    rows, badges, language = [], _BADGES, get_language()
    labels = {key: escape(gettext(text)) for key, text in _ROW_LABELS}
    this_year = timezone.localtime(now).year
    url = reverse("cases:case_detail", args=[0])
    head, tail = url.rsplit("/0/", 1)
    for c in cases:
        row = {"case": c, "requester": mask_name(c.requester_name), "overdue": c.is_overdue(now),
               "due_soon": c.is_due_soon(now), "url": f"{head}/{c.pk}/{tail}"}
        # The status badges depend on these alone: rendered once per combination and language
        # in this process, not per row.
        key = (language, c.status, row["overdue"], row["due_soon"], c.supervised_at is not None, c.priority)
        if key not in badges:
            badges[key] = render_to_string("cases/includes/status.html", {
                "case": c, "overdue": row["overdue"], "due_soon": row["due_soon"]})
        row["status_html"] = badges[key]
        row["html"] = mark_safe(_row_html(c, row, labels, this_year))
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
    # The options of InboxFilterForm's shared choices, written once per language and value.
    key = getattr(field.form, "choice_keys", {}).get(field.name)
    if key is not None:
        key = (key, get_language(), selected[0])
        options = _OPTIONS.get(key)
        if options is None:
            if len(_OPTIONS) > 1024:
                _OPTIONS.clear()
            options = _OPTIONS[key] = "".join(_options(field.field.choices, selected))
    else:
        options = "".join(_options(field.field.choices, selected))
    return mark_safe(f'<select name="{escape(field.html_name)}"{invalid} id="{escape(field.auto_id)}">'
                     + options + "</select>")


def filter_widgets(form) -> list[tuple]:
    """(bound field, its widget HTML) for the filter bar but the search box and the check box."""
    return [(field, select_html(field) if isinstance(field.field, ChoiceField) else field_html(field))
            for field in form if field.name not in ("q", "overdue")]


_FIELD_HTML: dict = {}  # (form class, field, part, language, id, bound, empty value, hint) -> its HTML


def field_html(field, part: str = "widget") -> str:
    """``str(field)`` (``part="widget"``) or ``field.label_tag()`` (``"label"``), kept per
    language for a field with no value and no error — the same HTML every time, which Django
    renders through the form templates (a label or an empty widget ≈ 0.3 ms each; the filter bar
    has thirteen)."""
    value = field.value() if part == "widget" else None
    if value not in (None, "", False) or (part == "widget" and field.errors):
        return str(field) if part == "widget" else field.label_tag()
    key = (type(field.form), field.name, part, get_language(), field.auto_id, field.form.is_bound, value,
           field.field.widget.attrs.get("placeholder"))
    html = _FIELD_HTML.get(key)
    if html is None:
        if len(_FIELD_HTML) > 256:
            _FIELD_HTML.clear()
        html = _FIELD_HTML[key] = mark_safe(str(field) if part == "widget" else field.label_tag())
    return html


def filter_bar(form) -> dict:
    """The filter bar's pieces: the search box, the selects and date fields (with their labels),
    the check box."""
    return {"q": (field_html(form["q"], "label"), field_html(form["q"])),
            "fields": [(field, field_html(field, "label"), widget) for field, widget in filter_widgets(form)],
            "overdue": (field_html(form["overdue"]), field_html(form["overdue"], "label"))}


# --- the filter form, its choices read raw -------------------------------------------------------

_CHOICES: dict = {}  # (what the rows were) -> the normalized choices, shared by every request
_OPTIONS: dict = {}  # (that key, language, selected value) -> the <option>s' HTML


def _remember(key, build):
    """``build()`` once per distinct ``key`` (the rows it is made from): rebuilt when a row
    changes, never stale. A few entries at most; cleared past 256."""
    if key not in _CHOICES:
        if len(_CHOICES) > 256:
            _CHOICES.clear()
        _CHOICES[key] = build()
    return key, _CHOICES[key]


def _raw(sql: str, params=()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return tuple(cursor.fetchall())


def _category_choices() -> list:
    """``CaseFilterForm``'s category choices: the active categories grouped by kind."""
    qn = connection.ops.quote_name
    rows = _raw(f"SELECT {qn('id')}, {qn('kind')}, {qn('name')}, {qn('group')} FROM "
                f"{qn(Category._meta.db_table)} WHERE {qn('is_active')} = %s "
                f"ORDER BY {qn('kind')}, {qn('sort')}, {qn('code')}", [True])

    def build():
        groups: dict = {}
        for pk, kind, name, group in rows:
            groups.setdefault(CaseKind(kind).label, []).append((pk, f"{group}·{name}" if group else name))
        field = forms.TypedChoiceField()
        field.choices = [("", gettext_lazy("全部")), *groups.items()]
        return field.choices
    return _remember(("category", rows), build)


def _place_choices(user) -> list:
    """``CaseFilterForm``'s place choices: every active community and grid of the streets the
    user's BUSINESS_READ scope lies in or covers, in path order."""
    qn = connection.ops.quote_name
    paths = tuple(sorted(scope_paths(user, Cap.BUSINESS_READ)))
    rows = _raw(f"SELECT {qn('id')}, {qn('kind')}, {qn('path')}, {qn('name')}, {qn('is_active')} FROM "
                f"{qn(OrgUnit._meta.db_table)} WHERE {qn('kind')} IN (%s, %s, %s) ORDER BY {qn('path')}",
                [OrgUnitKind.STREET, OrgUnitKind.COMMUNITY, OrgUnitKind.GRID])

    def build():
        heads = {"/".join(path.split("/")[:3]) + "/" for path in paths}
        streets = [p for _pk, kind, p, _name, _active in rows if kind == OrgUnitKind.STREET
                   and (p in heads or any(p.startswith(path) for path in paths))]
        field = forms.TypedChoiceField()
        field.choices = [("", gettext_lazy("全部"))] + [
            (pk, ("\u3000" if kind == OrgUnitKind.GRID else "") + name)
            for pk, kind, p, name, active in rows
            if active and kind != OrgUnitKind.STREET and any(p.startswith(s) for s in streets)]
        return field.choices
    return _remember(("place", paths, rows), build)


def _fixed_choices() -> dict:
    def build():
        out = {}
        for name, choices in (("kind", CaseKind.choices), ("status", Status.choices),
                              ("channel", Channel.choices)):
            field = forms.ChoiceField()
            field.choices = [("", gettext_lazy("全部")), *choices]
            out[name] = field.choices
        return out
    return _remember(("fixed",), build)


class InboxFilterForm(f.CaseFilterForm):
    """``CaseFilterForm`` with the same choices, read in two raw statements and normalized once
    per distinct catalogue and place list: through the ORM its three queries and the choice
    lists cost a fifth of an inbox request's CPU. ``tests/test_cases_pages.py`` checks both
    forms offer the same choices."""

    def __init__(self, *args, user, **kwargs) -> None:
        forms.Form.__init__(self, *args, **kwargs)  # CaseFilterForm's own __init__ only sets choices
        self.user = user
        self.hint_search()
        fields = self.fields
        key, fixed = _fixed_choices()
        chosen = {name: (key, choices) for name, choices in fixed.items()}
        chosen["category"] = _category_choices()
        chosen["place"] = _place_choices(user)
        # which shared choices each field has, for select_html to reuse their HTML
        self.choice_keys = {}
        for name, (key, choices) in chosen.items():
            fields[name].choices = choices
            self.choice_keys[name] = (name, key)


def _filtered(request, tab_key: str, now):
    form = f.CaseFilterForm(request.GET or None, user=request.user)
    data = form.filters()
    qs = apply_filters(tab_queryset(request.user, tab_key, now), data, request.user, now)
    return form, qs


# What a row of the list shows (cases/case_list.html, includes/status.html, ``_list_rows``): the
# rest of the case is left unread. ``tests/test_cases_pages.py`` renders the list and counts its
# queries (a column read later would cost a query per row).
ROW_COLUMNS = ("tracking_code", "title", "status", "priority", "requester_name", "deadline_at", "created_at",
               "supervised_at", "category_id", "org_unit_id", "handler_unit_id", "handler_id")
# The related rows' columns: (relation, model, its columns), read in the same statement.
ROW_RELATED = (("category", Category, ("id", "name", "group")), ("org_unit", OrgUnit, ("id", "name")),
               ("handler_unit", OrgUnit, ("id", "name")), ("handler", None, ("id", "username", "full_name")))


def _loaded(model, db: str, names: list[str], values) -> models.Model:
    """``model.from_db(db, names, values)`` without ``Model.__init__``'s walk over every field
    (forty for a case): the instance Django would make — the columns read in ``__dict__``, the
    rest deferred (absent from it), its state "from ``db``". ``from_db`` itself when anything
    listens to the init signals, which this would skip."""
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(db, names, values)
    obj = model.__new__(model)
    obj._state = ModelState()
    obj._state.adding, obj._state.db = False, db
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


def _in_field_order(model, names) -> list[str]:
    """``names`` (attnames) in ``model``'s field order, as ``Model.from_db`` takes values."""
    return [f.attname for f in model._meta.concrete_fields if f.attname in names]


def _rows_by_ids(ids: list[int]) -> list[Case]:
    """The list's cases for ``ids``, in that order, with what the rows show (one query by pk).

    One ``values_list`` over the joins; each case and each distinct category, unit and person
    made once (a page names a few of each): ``select_related`` built five objects a row, which
    was a third of the list query's CPU."""
    if not ids:
        return []
    fields = _in_field_order(Case, {"id", *ROW_COLUMNS})
    related = []
    for name, model, columns in ROW_RELATED:
        model = model or Case._meta.get_field(name).related_model
        related.append((name, model, _in_field_order(model, {"id", *columns})))
    names = [*fields, *(f"{name}__{column}" for name, _m, columns in related for column in columns)]
    db, width, made, by_pk = connection.alias, len(fields), {}, {}
    for values in Case.objects.filter(pk__in=ids).order_by().values_list(*names):
        case = _loaded(Case, db, fields, values[:width])
        at = width
        for name, model, columns in related:
            if values[at] is None:  # the left join's id: no such related row
                obj = None
            else:
                key = (model, values[at])
                obj = made.get(key)
                if obj is None:
                    obj = made[key] = _loaded(model, db, columns, values[at:at + len(columns)])
            Case._meta.get_field(name).set_cached_value(case, obj)  # what select_related sets
            at += len(columns)
        by_pk[case.pk] = case
    return [by_pk[pk] for pk in ids if pk in by_pk]


def _walked_scope(branches: list[Q]) -> QuerySet[Case]:
    """The cases of ``branches`` (an OR across columns), as a condition no index serves — on
    SQLite, each column behind a unary ``+``. For a word with many matches (``search.dense``)
    the first page is then found by walking the list's own order once, each case tested
    against the scope and the matches; SQLite would otherwise read every case of the scope by
    its unit indexes (an OR of two index ranges) and sort them all — 0.4 s for a community."""
    qs = Case.objects.filter(permissions.any_of(branches))
    where = _where(qs)
    if where is None or not where[0] or connection.vendor != "sqlite":
        return qs
    table = re.escape(connection.ops.quote_name(Case._meta.db_table))
    plussed = re.sub(rf"(?<![\w.\"+]){table}\.", lambda m: "+" + m.group(0), where[0])
    walked = Case.objects.extra(where=[plussed],
                                params=where[1])
    street = _one_street(branches)
    # All in one street: walk that street's cases only, by (street, created_at) or (street,
    # status, deadline) — a fraction of every case's index.
    return walked if street is None else walked.filter(street_id=street)


def _one_street(branches: list[Q]) -> int | None:
    """The street every case of ``branches`` lies in, when they are all unit branches (place,
    handling unit, street) under one street — a case's place and handling unit both lie in its
    street (``services`` enforce it; ``permissions.scope_branches`` relies on it too); None
    otherwise (a person's own cases may lie anywhere)."""
    units, streets = set(), set()
    for branch in branches:
        pairs = _and_children(branch)
        if pairs is None:
            return None
        for lookup, value in pairs:
            if lookup in ("org_unit_id__in", "handler_unit_id__in"):
                units.update(value)
            elif lookup == "street_id__in":
                streets.update(value)
            else:
                return None
    if units:
        street = lookups.streets_of_units.get(tuple(sorted(units)), lambda: _street_of_units(units))
        if street is None:
            return None
        streets.add(street)
    return next(iter(streets)) if len(streets) == 1 else None


def _street_of_units(units: set[int]) -> int | None:
    """The one street all of ``units`` lie in; None when they lie in several, or a unit lies
    above or outside any street."""
    paths = list(OrgUnit.objects.filter(pk__in=units).values_list("path", flat=True))
    prefixes = {path[:i + 1] for path in paths for i, ch in enumerate(path) if ch == "/"}
    street_paths = dict(OrgUnit.objects.filter(kind=OrgUnitKind.STREET, path__in=prefixes)
                        .values_list("path", "pk")) if prefixes else {}
    streets = set()
    for path in paths:
        found = [pk for street_path, pk in street_paths.items() if path.startswith(street_path)]
        if len(found) != 1:
            return None  # a unit above or outside any street
        streets.add(found[0])
    return next(iter(streets)) if len(streets) == 1 else None


def inbox_page(user, tab_key: str, params, page_number, now, *, defer_count: bool = False):
    """One inbox page as the list asks the database: the filter form (bound to ``params`` when
    there are any), the tab's capped count and the page of cases. ``bench/cases_inbox.py``
    measures this very function.

    ``defer_count``: a search's count that the page's own reads did not settle is left out
    (``None``) for the list view to fetch next (``inbox_count``). A common word's capped count
    is most of its page's time (PostgreSQL's GIN index builds the bitmap of every match, 70,000
    of a million cases for "漏水", before the count can stop at 1,000), while the page itself
    walks the list's order and stops at 31 matches.

    The page's ids are read first without joins — each branch of the tab (``tab_branches``)
    split into one index range per value (``split``) and read in index order (``first_ids``),
    counted over the same ranges (``count_parts``) — then the rows by id (``_rows_by_ids``). A
    search asks the branches as one condition (``search.search``), counted by
    ``search.capped_ids`` where it applies."""
    form, total, ids = _inbox_list(user, tab_key, params, now, defer_count=defer_count)
    return form, total, CheapPage(None, page_number, PAGE_SIZE, total,
                                  fetch=lambda start, stop: _rows_by_ids(ids(start, stop)))


def inbox_count(user, tab_key: str, params, now) -> int:
    """The capped count of the inbox list that ``inbox_page(…, defer_count=True)`` left out:
    the same tab, filters and search, counted alone (no row of the page is read)."""
    return _inbox_list(user, tab_key, params, now, defer_count=False)[1]


def _inbox_list(user, tab_key: str, params, now, *, defer_count: bool):
    """The filter form, the capped count (None when deferred) and ``ids(start, stop)``, the
    list's ids in its order (read by ``first_ids`` unless the search's matches were all read
    with the order's column: then ordered here)."""
    ordering = TAB_BY_KEY[tab_key].ordering
    form = InboxFilterForm(params or None, user=user)
    filters = form.filters()
    condition = filter_q(filters, now)
    branches = tab_branches(user, tab_key, now)
    text = (filters.get("q") or "").strip()
    total, deferred = None, False
    if text:
        from .search import DENSE_MATCHES, capped_ids, dense, few_matches, on_documents, search

        code = text.strip().upper()
        exact = (_exact_code(tab_queryset(user, tab_key, now).filter(condition), text)
                 if len(code) == 10 and code.isalnum() else None)
        if exact is not None:
            counted = listed = [exact]
        elif branches:
            # The branches as one condition: the search's matches drive the count (each match
            # tested once against the whole scope, not once per branch) and the first page
            # walks the list's order once, testing each case of the scope against the matches.
            # On SQLite a word with many matches (``search.dense``, counted once here) is found
            # by walking the list's order, each case of the scope tested on its own document.
            scope = permissions.any_of(branches) & condition
            plain = Case.objects.filter(scope)
            # A tab and filters naming only the cases' place, ordered by intake time (a unit's
            # 全部): the matches are found and counted on the search documents' copies of them,
            # no case row read.
            key = ordering[0].lstrip("-")
            docs = on_documents(scope, text) if key in CaseSearchDoc.PLACE_FIELDS else None
            matched = plain if docs is None else docs  # where the matches are read and counted
            # A search with few matches in the scope: all of them read once, counted, and the
            # page read from them — not looked up again for the page (20-40 ms each time for
            # "兰宫路社区17号" at a million cases).
            personal = permissions.finds_by_requester(user)
            found = few_matches(matched, text, key=key, personal=personal)
            ids = None if found is None else [pk for pk, _value in found]
            if ids is not None and len(ids) <= DENSE_MATCHES:
                total = min(len(ids), COUNT_CAP)
                pairs = [(value, pk) for pk, value in found]
                if all(value is not None for value, _pk in pairs):  # as the database orders them
                    ordered = [pk for _value, pk in sorted(pairs, reverse=ordering[0].startswith("-"))]
                    return form, total, lambda start, stop: ordered[start:stop]
                counted = listed = [_id_list(ids)]
            else:
                # More matches than the few the estimate expected: they were read up to one past
                # the threshold, which settles that the search is dense and, at or past the
                # cap, its count.
                is_dense = ids is not None or dense(text)
                if ids is not None and len(ids) >= COUNT_CAP:
                    total = COUNT_CAP
                elif defer_count:
                    deferred = True
                else:
                    ids = capped_ids(matched, text, COUNT_CAP, personal=personal)
                    if ids is not None:
                        total = min(len(ids), COUNT_CAP)
                counted = [search(matched, text, is_dense=is_dense, personal=personal)]
                listed = [search(plain, text, is_dense=is_dense, personal=personal)]
                if is_dense:
                    walked = _walked_scope(branches).filter(condition) if len(branches) > 1 else plain
                    listed = [search(walked, text, is_dense=True, walk=True, personal=personal)]
                elif connection.vendor == "postgresql":
                    listed = [search(plain, text, walk=True, personal=personal)]
        else:
            counted = listed = []
        parts = [Part(qs) for qs in listed]
    else:
        parts = [split(Case.objects.filter(condition), branch) for branch in branches]
        total = count_parts(parts)
    if total is None and not deferred:
        total = _capped_union_count(counted)
    return form, total, lambda start, stop: first_ids(parts, ordering, start, stop) if parts else []


def _id_list(ids: list[int]) -> QuerySet[Case]:
    """The cases of ``ids`` (integers read from the database), the list written into the
    statement: as a bound ``pk__in`` Django prepares each of up to 2,000 values again every time
    the page's statements are built (5-10 ms a page)."""
    if not ids:
        return Case.objects.none()
    return Case.objects.filter(pk__in=RawSQL(",".join(str(int(pk)) for pk in ids), []))


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
