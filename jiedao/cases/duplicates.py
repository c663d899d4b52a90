"""Duplicate suggestions at intake: open cases of the same category nearby with similar text.

"Nearby" is the same grid or community, or the same address; "recent" is the last
``JIEDAO_CASE_DUPLICATE_DAYS`` days; "similar" is the overlap (Jaccard) of the two texts'
character pairs — the same pairs the search index uses. Staff decide; merging is ``merge``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import OPEN_STATUSES, Case, Category
from .search import tokens

MIN_SIMILARITY = 0.25
LIMIT = 5


@dataclass(frozen=True)
class Suggestion:
    case: Case
    similarity: float
    same_address: bool


def _pairs(text: str) -> set[str]:
    return set(tokens(text).split())


def similarity(a: str, b: str) -> float:
    left, right = _pairs(a), _pairs(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _norm_address(address: str) -> str:
    return "".join((address or "").split())


def similar_open_cases(category: Category, org_unit, address: str, text: str, *, days: int | None = None,
                       exclude: Case | None = None, now: dt.datetime | None = None) -> list[Suggestion]:
    days = settings.JIEDAO_CASE_DUPLICATE_DAYS if days is None else days
    since = (now or timezone.now()) - dt.timedelta(days=days)
    near = Q(org_unit=org_unit)
    if _norm_address(address):
        near |= Q(address=address.strip())
    candidates = (Case.objects.filter(category=category, status__in=OPEN_STATUSES, created_at__gte=since)
                  .filter(near).select_related("org_unit").order_by("-created_at")[:200])
    found = []
    for case in candidates:
        if exclude is not None and case.pk == exclude.pk:
            continue
        score = similarity(text, f"{case.title} {case.description}")
        same_address = bool(_norm_address(address)) and _norm_address(case.address) == _norm_address(address)
        if score >= MIN_SIMILARITY or (same_address and score > 0):
            found.append(Suggestion(case, round(score, 2), same_address))
    found.sort(key=lambda s: (s.same_address, s.similarity), reverse=True)
    return found[:LIMIT]
