"""Who may see a case and who may take each step — the same rules for pages and the API.

Seeing: staff see cases placed in their units (``org_unit``) or handed to their units
(``handler_unit``); a provider sees only the orders dispatched or claimed to it; a resident
with a login sees the cases they filed. A leader's own cases (包案) lie in the leader's street.

Steps: the dispatcher is whoever may write business records where the case is; the handler
is the person it was given to, or anyone writing for the unit it was given to when no person
was named; supervising and 包案 need the leader's capability. System actors (the resident
page after its own check of tracking code and phone, Open311 clients, the demo) are trusted
callers: their checks happen before they reach the services.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from jiedao.accounts.access import has_cap, scope_paths, scope_q
from jiedao.accounts.roles import Cap
from jiedao.core.models import OrgUnit, OrgUnitKind

from .models import Action, Case, CaseKind, Status


def units_q(user, cap: str) -> Q:
    """Cases placed in or handed to the units where ``user`` holds ``cap``.

    Written with ids rather than path joins so the database can use the case indexes: a
    street (or the district) becomes ``street_id IN (…)``, which the (street, status,
    deadline) index serves; a community, grid or department becomes its subtree's unit ids
    on ``org_unit`` or ``handler_unit``.
    """
    q = Q(pk__in=[])
    units = OrgUnit.objects.filter(path__in=scope_paths(user, cap)).only("id", "kind", "path")
    streets: list[int] = []
    below: list[int] = []
    for unit in units:
        if unit.kind in (OrgUnitKind.DISTRICT, OrgUnitKind.STREET):
            streets += OrgUnit.objects.filter(path__startswith=unit.path, kind=OrgUnitKind.STREET) \
                .values_list("id", flat=True)
        else:
            below += OrgUnit.objects.filter(path__startswith=unit.path).values_list("id", flat=True)
    if streets:
        q |= Q(street_id__in=sorted(set(streets)))
    if below:
        ids = sorted(set(below))
        q |= Q(org_unit_id__in=ids) | Q(handler_unit_id__in=ids)
    return q


def visible_q(user) -> Q:
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    q = units_q(user, Cap.BUSINESS_READ)
    if has_cap(user, Cap.FULFIL_ORDERS):
        q |= Q(handler=user)
    if has_cap(user, Cap.OWN_REQUESTS):
        q |= Q(requester_user=user)
    # A leader's own cases (包案) need no clause: owners hold SUPERVISE, hence BUSINESS_READ,
    # where the case is (``assign_owner`` checks it), and an OR on another column would keep
    # the database off the street index.
    return q


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
            "category", "street", "org_unit", "handler_unit", "handler", "owner"
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


def may(user, action: str, case: Case) -> bool:
    """May ``user`` take ``action`` on ``case`` (state aside)?"""
    if user is None:
        return False
    match action:
        case Action.DISPATCH | Action.REDISPATCH | Action.MERGE | Action.CLOSE | Action.REOPEN \
                | Action.EXTEND_APPROVE | Action.EXTEND_REJECT:
            return is_dispatcher(user, case)
        case Action.ACCEPT | Action.RETURN | Action.RESOLVE | Action.EXTEND_REQUEST:
            return is_handler(user, case)
        case Action.CLAIM:
            return (case.kind == CaseKind.SERVICE_ORDER and case.handler_id is None
                    and has_cap(user, Cap.FULFIL_ORDERS, case.org_unit))
        case Action.REVIEW:
            return is_dispatcher(user, case) or case.requester_user_id == user.pk
        case Action.SUPERVISE | Action.ASSIGN_OWNER:
            return has_cap(user, Cap.SUPERVISE, case.org_unit)
        case Action.NOTE | Action.ATTACH:
            return (is_dispatcher(user, case) or is_handler(user, case)
                    or has_cap(user, Cap.SUPERVISE, case.org_unit)
                    or (case.requester_user_id == user.pk and case.status != Status.CLOSED))
    return False


def may_create(user, unit) -> bool:
    return any(has_cap(user, cap, unit) for cap in (Cap.BUSINESS_WRITE, Cap.GRID_REPORT, Cap.OWN_REQUESTS))
