"""Who may see a case and who may take each step — the same rules for pages and the API.

Seeing: staff see cases placed in their units (``org_unit``) or handed to their units
(``handler_unit``); everyone sees the cases given to them as a person (``handler``: a provider
sees only those, the orders dispatched or claimed to it); a resident with a login sees the
cases they filed; a leader the cases they own (包案). ``visible_q`` is written so that one
index serves each branch (see ``visible_branches``); pages, the API, exports and services all
use it — there is no second definition.

Steps: the dispatcher is whoever may write business records where the case is; the handler
is the person it was given to, or anyone writing for the unit it was given to when no person
was named; supervising and 包案 need the leader's capability. System actors (the resident
page after its own check of tracking code and phone, Open311 clients, the demo) are trusted
callers: their checks happen before they reach the services.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy

from jiedao.accounts.access import grants, has_cap, scope_paths, scope_q
from jiedao.accounts.roles import Cap
from jiedao.core.masking import mask_text
from jiedao.core.models import OrgUnit, OrgUnitKind

from . import lookups
from .models import Action, Case, CaseKind, Status

# A staff member's own cases (handler, requester, owner) outside the units in scope are few;
# they are added to the unit scope as an id list up to this many, as a plain condition beyond.
EXTRA_CAP = 1000
_SCOPE_CACHE = "_cases_scope_branches"


def subtree_ids(path: str) -> list[int]:
    """The ids of the unit at ``path`` and of every unit below it."""
    return list(OrgUnit.objects.filter(path__startswith=path).values_list("id", flat=True))


def scope_branches(user, cap: str, *, handler_too: bool = True) -> list[Q]:
    """Cases placed (or, with ``handler_too``, handed) in the units where ``user`` holds ``cap``,
    as a list of conditions each served by one index.

    The same rows as ``scope_q(user, cap, "org_unit") | scope_q(user, cap, "handler_unit")``,
    written as id lists: a district- or street-wide scope becomes ``street_id IN (…)`` (a case's
    place and its handling unit both lie in its street — ``services`` enforce it), which the
    (street, status, deadline) index serves; a community's, grid's or department's scope becomes
    its subtree's ids, once as the place and once as the handling unit. No join, no LIKE per row.

    Kept on the user object as long as its grants (``access.grants``; ``access.forget`` drops both).
    """
    held = grants(user)
    cache = getattr(user, _SCOPE_CACHE, None)
    if cache is None or cache[0] is not held:
        cache = (held, {})
        setattr(user, _SCOPE_CACHE, cache)
    key = (cap, handler_too)
    if key not in cache[1]:
        cache[1][key] = _scope_branches(user, cap, handler_too)
    return list(cache[1][key])


def _scope_branches(user, cap: str, handler_too: bool) -> list[Q]:
    branches: list[Q] = []
    streets: set[int] = set()
    for path in scope_paths(user, cap):
        units = subtree(path)
        top_kind = next((kind for _pk, kind, p in units if p == path), None)
        if top_kind in (OrgUnitKind.DISTRICT, OrgUnitKind.STREET):
            streets.update(pk for pk, kind, _p in units if kind == OrgUnitKind.STREET)
        else:
            ids = sorted(pk for pk, _kind, _p in units)
            branches.append(Q(org_unit_id__in=ids))
            if handler_too:
                branches.append(Q(handler_unit_id__in=ids))
    if streets:
        branches.insert(0, Q(street_id__in=sorted(streets)))
    return branches


def subtree(path: str) -> list[tuple[int, str, str]]:
    """``(id, kind, path)`` of the units at and under ``path`` (inactive ones too: their cases
    stay in scope), memoised per process like ``lookups`` (forgotten when a unit is saved)."""
    return lookups.subtrees.get(path, lambda: list(
        OrgUnit.objects.filter(path__startswith=path).values_list("id", "kind", "path")))


def any_of(branches: list[Q]) -> Q:
    """The OR of ``branches``; nothing at all when there are none."""
    q = Q(pk__in=[])
    for branch in branches:
        q |= branch
    return q


def units_q(user, cap: str, *, handler_too: bool = True) -> Q:
    """Cases placed in (or handed to) the units where ``user`` holds ``cap`` (``scope_branches``)."""
    return any_of(scope_branches(user, cap, handler_too=handler_too))


def _personal_columns(user) -> list[str]:
    """The columns naming ``user`` that make a case theirs whatever its place: the person it
    was given to (anyone may be dispatched as a person, and may then accept it), the resident
    who filed it, the leader who owns it (包案)."""
    columns = ["handler_id"]
    if has_cap(user, Cap.OWN_REQUESTS):
        columns.append("requester_user_id")
    if has_cap(user, Cap.SUPERVISE):
        columns.append("owner_id")
    return columns


def visible_branches(user) -> list[Q]:
    """What ``user`` may see, as conditions each served by one index (their OR is ``visible_q``).

    The unit scope (``scope_branches`` for BUSINESS_READ), plus the user's own cases (handler,
    requester, owner). For a user with a unit scope, the own cases are added only for the few
    outside it, as an id list read now (partial indexes on those columns make it a look-up):
    an ``OR handler_id = …`` beside ``street_id IN (…)`` would keep SQLite off the street index
    and turn a 1 ms inbox into seconds. Past ``EXTRA_CAP`` such cases the plain conditions are
    used instead — slower, never wrong. The id list is a snapshot: ask again after a step.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    personal = [Q(**{column: user.pk}) for column in _personal_columns(user)]
    branches = scope_branches(user, Cap.BUSINESS_READ)
    if not branches:
        return personal
    extra = _own_outside_scope(user)
    if len(extra) > EXTRA_CAP:
        return [*branches, *personal]
    return [*branches, Q(pk__in=extra)] if extra else branches


def _own_outside_scope(user) -> list[int]:
    """The ids of ``user``'s own cases (``_personal_columns``) outside their unit scope, up to
    ``EXTRA_CAP`` + 1, read now. The statement depends only on the user, those columns and the
    scope's units: built once and memoised like the units it names (building it was most of
    ``visible_branches``'s time)."""
    columns = _personal_columns(user)
    branches = scope_branches(user, Cap.BUSINESS_READ)
    key = (connection.alias, user.pk, tuple(columns), tuple(sorted(scope_paths(user, Cap.BUSINESS_READ))))
    sql, params = lookups.outside_scope.get(key, lambda: (
        Case.objects.filter(any_of([Q(**{column: user.pk}) for column in columns]))
        .exclude(any_of(branches)).order_by().values_list("pk", flat=True)[:EXTRA_CAP + 1]
    ).query.sql_with_params())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def visible_q(user) -> Q:
    return any_of(visible_branches(user))


def claimable_q(user) -> Q:
    """Service orders waiting in the pool that ``user`` (a provider) may claim (认领/抢单):
    open, held by nobody, in the provider's communities. Not part of ``visible``: a provider
    sees the pool's orders only as candidates, masked, until it claims one."""
    if user is None or not user.is_authenticated or not has_cap(user, Cap.FULFIL_ORDERS):
        return Q(pk__in=[])
    return (Q(kind=CaseKind.SERVICE_ORDER, status=Status.RECEIVED, handler__isnull=True)
            & scope_q(user, Cap.FULFIL_ORDERS, "org_unit"))


def visible(user, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    queryset = Case.objects.all() if queryset is None else queryset
    return queryset.filter(visible_q(user))


def get_case_or_404(user, **lookup) -> Case:
    try:
        return visible(user).select_related(
            "category", "street", "org_unit", "handler_unit", "handler", "owner", "merged_into"
        ).get(**lookup)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def is_dispatcher(user, case: Case) -> bool:
    return has_cap(user, Cap.BUSINESS_WRITE, case.org_unit)


def is_handler(user, case: Case) -> bool:
    if case.handler_id is not None:
        return case.handler_id == user.pk
    return case.handler_unit is not None and has_cap(user, Cap.BUSINESS_WRITE, case.handler_unit)


def is_provider_only(user) -> bool:
    """Sees personal data masked and only its own orders."""
    return has_cap(user, Cap.FULFIL_ORDERS) and not has_cap(user, Cap.BUSINESS_READ)


def may_reveal(user, case: Case) -> bool:
    """May ``user`` see ``case``'s requester unmasked (an audited action, on the page and through
    the API alike)? With 查看完整个人信息 where the case is placed or where it is handled; never
    a provider, who sees its orders masked."""
    if is_provider_only(user):
        return False
    return (has_cap(user, Cap.REVEAL_PERSONAL, case.org_unit)
            or (case.handler_unit is not None and has_cap(user, Cap.REVEAL_PERSONAL, case.handler_unit)))


def written_text(user, case: Case) -> Callable[[str | None], str]:
    """How what staff wrote into ``case`` (its text, notes, result, 督办要求, extension reason)
    is shown to ``user``: as written where they may see the requester (``may_reveal``), else
    with its phone and ID numbers masked (``masking.mask_text``), as the requester is."""
    return (lambda words: words or "") if may_reveal(user, case) else mask_text


def may(user, action: str, case: Case) -> bool:
    """May ``user`` take ``action`` on ``case`` (state aside)?"""
    if user is None:
        return False
    match action:
        case Action.DISPATCH | Action.REDISPATCH | Action.MERGE | Action.CLOSE | Action.REOPEN:
            return is_dispatcher(user, case)
        case Action.EXTEND_APPROVE | Action.EXTEND_REJECT:
            # Not whoever asked for it: a 网格员 may dispatch in his grid and handle there too,
            # and would otherwise grant himself more time.
            return is_dispatcher(user, case) and _last_actor(case, Action.EXTEND_REQUEST) != user.pk
        case Action.ACCEPT | Action.RETURN | Action.RESOLVE | Action.EXTEND_REQUEST:
            return is_handler(user, case)
        case Action.CLAIM:
            return (case.kind == CaseKind.SERVICE_ORDER and case.handler_id is None
                    and has_cap(user, Cap.FULFIL_ORDERS, case.org_unit))
        case Action.REVIEW:
            # 回访 asks whether the work was done well: never by whoever did it (it counts in
            # their unit's 满意率 and 解决率), but by the resident who asked for it.
            return ((is_dispatcher(user, case) and _last_actor(case, Action.RESOLVE) != user.pk)
                    or case.requester_user_id == user.pk)
        case Action.SUPERVISE | Action.ASSIGN_OWNER:
            return has_cap(user, Cap.SUPERVISE, case.org_unit)
        case Action.NOTE | Action.ATTACH:
            return (is_dispatcher(user, case) or is_handler(user, case)
                    or has_cap(user, Cap.SUPERVISE, case.org_unit)
                    or (case.requester_user_id == user.pk and case.status != Status.CLOSED))
    return False


def _last_actor(case: Case, action: str) -> int | None:
    """The user who last took ``action`` on ``case`` (None: nobody, or a system actor)."""
    return (case.events.filter(action=action).order_by("-at", "-id")
            .values_list("actor_id", flat=True).first())


def may_create(user, unit) -> bool:
    return any(has_cap(user, cap, unit) for cap in (Cap.BUSINESS_WRITE, Cap.GRID_REPORT, Cap.OWN_REQUESTS))


_FINDS_BY_REQUESTER = "_cases_finds_by_requester"


def finds_by_requester(user) -> bool | tuple[int, ...]:
    """Where may ``user``'s searches match the requesters' names and phones
    (``search.PERSONAL_MARK``)? Only in cases that show them the requester unmasked, or a match
    would confirm a hidden name or number:

    - True: in every case they see — they may reveal personal data wherever they may read
      business records, and see none of their own cases outside those units;
    - the ids of the units where they may reveal: in the cases placed or handled there, the
      others by their own words only (someone also given a case by name in another street,
      someone reading more units than they may reveal in);
    - False: nowhere (a 网格员, a district viewer, a provider, a resident).

    Answered once per user object (a request's)."""
    answer = getattr(user, _FINDS_BY_REQUESTER, None)
    if answer is None:
        reveal = scope_paths(user, Cap.REVEAL_PERSONAL)
        read = scope_paths(user, Cap.BUSINESS_READ)
        if not reveal or not read or is_provider_only(user):
            answer = False
        elif all(any(path.startswith(r) for r in reveal) for path in read) and not _own_outside_scope(user):
            answer = True
        else:
            answer = tuple(sorted({pk for path in reveal for pk in subtree_ids(path)}))
        setattr(user, _FINDS_BY_REQUESTER, answer)
    return answer


PHONE_LIKE = re.compile(r"\d{7,}")


def phone_search_refused(user, text: str) -> bool:
    """A search for a phone number (seven digits or more in a row) by someone whose searches
    match no requester's phone (``finds_by_requester``): it could only find the number where a
    case's own text holds it, so they are told to search otherwise."""
    return bool(PHONE_LIKE.search(text or "")) and not finds_by_requester(user)


PHONE_SEARCH_REFUSED = gettext_lazy(
    "按手机号或电话号码查找需要“查看完整个人信息”的权限;可以按标题、地址、查询码查找")
