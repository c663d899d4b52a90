"""The one access layer.

Every record is fetched through these helpers. A record is reachable when the user holds a
role granting the capability on a unit whose subtree contains the record's unit. "Missing"
and "not yours" raise the same ``Http404``, so ids cannot be probed.

The user's grants are read once per request object and cached on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from jiedao.core.models import OrgUnit

from .models import Membership
from .roles import GRANTS, Cap, Role

_CACHE_ATTR = "_jiedao_grants"


def grants(user) -> list[tuple[str, str, int]]:
    """``[(role, unit_path, unit_id), …]`` for an active user; empty for anyone else."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        sql, params = _grants_statement(connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, [user.pk if p == _SOMEONE else p for p in params])
            cached = [tuple(row) for row in cursor.fetchall()]
        setattr(user, _CACHE_ATTR, cached)
    return cached


_SOMEONE = -7_417_000  # no user has it: marks the user's parameter in the statement built once


@cache
def _grants_statement(vendor: str) -> tuple[str, tuple]:
    """``Membership.objects.filter(user=…, unit__is_active=True).values_list("role",
    "unit__path", "unit_id")`` as SQL, built once per database vendor: every request asks it,
    and building it through the ORM was 0.7 ms of the 0.8 it cost (a test compares both)."""
    qs = Membership.objects.filter(user_id=_SOMEONE, unit__is_active=True).values_list(
        "role", "unit__path", "unit_id")
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


def forget(user) -> None:
    """Drop the cached grants (after a membership change within one request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def roles_of(user) -> set[str]:
    return {role for role, _path, _id in grants(user)}


def capabilities(user) -> set[str]:
    caps: set[str] = set()
    for role in roles_of(user):
        caps |= GRANTS.get(role, frozenset())
    return caps


def scope_paths(user, cap: str) -> list[str]:
    """The paths of the subtrees in which ``user`` has ``cap``, without nested duplicates."""
    paths = sorted({path for role, path, _id in grants(user) if cap in GRANTS.get(role, ())})
    kept: list[str] = []
    for path in paths:
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return kept


def has_cap(user, cap: str, unit: OrgUnit | None = None) -> bool:
    """May ``user`` use ``cap`` on ``unit`` (anywhere when ``unit`` is None)?"""
    paths = scope_paths(user, cap)
    if unit is None:
        return bool(paths)
    return any(unit.path.startswith(p) for p in paths)


def scope_q(user, cap: str, field: str = "org_unit") -> Q:
    """A filter selecting the rows whose ``field`` (an OrgUnit FK) lies in scope."""
    paths = scope_paths(user, cap)
    if not paths:
        return Q(pk__in=[])
    q = Q()
    lookup = f"{field}__path__startswith" if field else "path__startswith"
    for path in paths:
        q |= Q(**{lookup: path})
    return q


def scoped[M: Model](queryset: QuerySet[M], user, cap: str, field: str = "org_unit") -> QuerySet[M]:
    return queryset.filter(scope_q(user, cap, field))


def get_scoped_or_404[M: Model](
    queryset: QuerySet[M], user, cap: str, field: str = "org_unit", **lookup
) -> M:
    """The one way to fetch a record for a user: absent and out-of-scope look the same."""
    try:
        return scoped(queryset, user, cap, field).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def require_cap(user, cap: str, unit: OrgUnit | None = None) -> None:
    if not has_cap(user, cap, unit):
        raise Http404


# --- specific questions -----------------------------------------------------------------

# Whoever holds one of these on a unit may open that unit's organisation page.
ORG_CAPS = (Cap.BUSINESS_READ, Cap.USERS, Cap.CONFIG, Cap.ROLES)


def units_visible(user) -> QuerySet[OrgUnit]:
    """Org units a user may open: those in scope of any of ``ORG_CAPS``."""
    q = Q(pk__in=[])
    for cap in ORG_CAPS:
        q |= scope_q(user, cap, field="")
    return OrgUnit.objects.filter(q)


def units_in_scope(user, cap: str) -> QuerySet[OrgUnit]:
    """Active units where ``user`` may use ``cap``, in tree order (for choosing one)."""
    return scoped(OrgUnit.objects.filter(is_active=True), user, cap, field="").order_by("path")


def access_unit_by_id(user, unit_id: int, cap: str = Cap.BUSINESS_READ) -> OrgUnit:
    return get_scoped_or_404(OrgUnit.objects.all(), user, cap, field="", pk=unit_id)


def access_user_by_id(actor, user_id: int, cap: str = Cap.USERS):
    """Accounts are managed by the admin whose scope holds the account's home unit."""
    from .models import User

    return get_scoped_or_404(User.objects.all(), actor, cap, field="home_unit", pk=user_id)


def assignable_roles(actor, unit: OrgUnit) -> Iterable[str]:
    """Roles ``actor`` may grant on ``unit``: those that may be held on a unit of its kind,
    when ``unit`` lies in the actor's role-management scope."""
    if not has_cap(actor, Cap.ROLES, unit):
        return []
    from .roles import ROLE_UNIT_KINDS

    return [r for r in Role.values if unit.kind in ROLE_UNIT_KINDS[r]]
