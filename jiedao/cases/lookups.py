"""The rows every intake reads and an administrator rarely changes, memoised per process for a
few seconds (jiedao/core/recent.py): categories by code, units by code and their street, a
street's communities, a unit's subtree and the street of a set of units (every inbox page
reads those), the statement of a user's own cases outside the scope, and, in open311.py,
Open311 keys.

Any save or delete of those models forgets the memos of the process at once; other server
processes see the change within ``MEMO_SECONDS`` — a revoked key, a deactivated category, a
moved unit. API tokens are memoised the same way in jiedao/accounts/tokens.py.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.recent import Recent

from .models import Category, Open311Client

MEMO_SECONDS = 10

_categories: Recent[str, Category | None] = Recent(MEMO_SECONDS)
_units: Recent[str, OrgUnit | None] = Recent(MEMO_SECONDS)
_streets: Recent[int, OrgUnit | None] = Recent(MEMO_SECONDS)
_communities: Recent[int, list[OrgUnit]] = Recent(MEMO_SECONDS)
# Read by ``permissions.subtree`` and ``inbox._one_street`` (every inbox page asks them).
subtrees: Recent[str, list[tuple[int, str, str]]] = Recent(MEMO_SECONDS)
streets_of_units: Recent[tuple[int, ...], int | None] = Recent(MEMO_SECONDS)
# The statement ``permissions.visible_branches`` reads a user's own cases outside the scope with
# (it names the scope's units).
outside_scope: Recent[tuple, tuple[str, tuple]] = Recent(MEMO_SECONDS)


@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=OrgUnit)
@receiver([post_save, post_delete], sender=Open311Client)
def _forget(**kwargs) -> None:
    """At once, and again when the transaction commits: a unit's path and its subtree's are
    rewritten after ``post_save`` (``OrgUnit.save``), and another thread may read the rows
    before the change is committed."""
    Recent.forget_all()
    transaction.on_commit(Recent.forget_all)


def category(code: str) -> Category | None:
    """The category with this code (active or not: callers check), or None."""
    return _categories.get(code, lambda: Category.objects.filter(code=code).first())


def unit(code: str) -> OrgUnit | None:
    """The active unit with this region code, or None."""
    return _units.get(code, lambda: OrgUnit.objects.filter(code=code, is_active=True).first())


def street_of(unit: OrgUnit) -> OrgUnit | None:
    return _streets.get(unit.pk, lambda: unit.street)


def communities(street: OrgUnit) -> list[OrgUnit]:
    return _communities.get(street.pk, lambda: list(
        OrgUnit.objects.filter(parent=street, kind=OrgUnitKind.COMMUNITY, is_active=True)))
