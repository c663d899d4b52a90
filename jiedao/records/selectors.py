"""Reads that need care: counts computed from the cases a record raised.

"Solved" is the case app's own definition (``Case.objects.solved()``: finished with the
outcome 解决), so a meeting's "solved" and the work summary's cannot disagree. A hazard counts
as rectified when its case is solved in that sense.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from jiedao.accounts.access import scoped
from jiedao.accounts.roles import Cap
from jiedao.cases.models import Case

from .models import EnterpriseVisit, Inspection, Meeting, Tally, VisitItem


def _solved_ids():
    return Case.objects.solved().values("pk")


def meetings_for(user, cap: str = Cap.BUSINESS_READ) -> QuerySet[Meeting]:
    return with_suggestion_counts(scoped(Meeting.objects.all(), user, cap))


def with_suggestion_counts(qs: QuerySet[Meeting]) -> QuerySet[Meeting]:
    return qs.select_related("org_unit").annotate(
        suggestions_total=Count("suggestions", distinct=True),
        suggestions_solved=Count("suggestions", distinct=True,
                                 filter=Q(suggestions__case__in=_solved_ids())),
    ).order_by("-date", "-pk")


def inspections_for(user, cap: str = Cap.BUSINESS_READ) -> QuerySet[Inspection]:
    return with_hazard_counts(scoped(Inspection.objects.all(), user, cap))


def with_hazard_counts(qs: QuerySet[Inspection]) -> QuerySet[Inspection]:
    return qs.select_related("org_unit").annotate(
        hazards_found=Count("hazards", distinct=True),
        hazards_rectified=Count("hazards", distinct=True,
                                filter=Q(hazards__case__in=_solved_ids())),
    ).order_by("-date", "-pk")


def visits_for(user, cap: str = Cap.BUSINESS_READ) -> QuerySet[EnterpriseVisit]:
    return scoped(EnterpriseVisit.objects.all(), user, cap).select_related("org_unit").annotate(
        items_total=Count("items")).order_by("-date", "-pk")


@dataclass
class VisitStats:
    visits: int  # 含重复
    enterprises: int  # distinct enterprises visited
    individuals: int  # distinct individual businesses visited
    demands: int
    suggestions: int
    outcomes: dict[str, int]  # case outcome code → count of finished demand/suggestion cases
    open_items: int


def visit_stats(visits: QuerySet[EnterpriseVisit]) -> VisitStats:
    targets = {(kind, enterprise_id or name) for kind, enterprise_id, name in
               visits.values_list("target_kind", "enterprise_id", "target_name")}
    items = VisitItem.objects.filter(visit__in=visits.values("pk"))
    kinds = Counter(items.values_list("kind", flat=True))
    finished = Case.objects.finished().filter(visit_item__in=items)
    outcomes = dict(Counter(finished.values_list("outcome", flat=True)))
    return VisitStats(
        visits=visits.count(),
        enterprises=sum(1 for kind, _k in targets if kind == "enterprise"),
        individuals=sum(1 for kind, _k in targets if kind == "individual"),
        demands=kinds.get("demand", 0),
        suggestions=kinds.get("suggestion", 0),
        outcomes=outcomes,
        open_items=items.count() - sum(outcomes.values()),
    )


def inspection_stats(inspections: QuerySet[Inspection]) -> dict:
    """Inspections (含重复) and distinct premises per kind; hazards found and rectified."""
    rows = list(inspections.values("premises_kind", "premises", "inspectors"))
    by_kind: dict[str, dict] = {}
    for row in rows:
        entry = by_kind.setdefault(row["premises_kind"], {"inspections": 0, "premises": set()})
        entry["inspections"] += 1
        entry["premises"].add(row["premises"])
    totals = with_hazard_counts(inspections.order_by()).aggregate(
        found=Sum("hazards_found"), rectified=Sum("hazards_rectified"))
    return {
        "inspections": len(rows),
        "inspectors": sum(r["inspectors"] for r in rows),
        "by_kind": {k: {"inspections": v["inspections"], "premises": len(v["premises"])}
                    for k, v in by_kind.items()},
        "found": totals["found"] or 0,
        "rectified": totals["rectified"] or 0,
    }


def tally_totals(tallies: QuerySet[Tally]) -> list[dict]:
    """Σ quantity per activity type over the given tallies (with the type's measure)."""
    rows = (tallies.order_by().values("activity__section", "activity__name", "activity__measure",
                                      "activity__sort")
            .annotate(total=Sum("quantity"), entries=Count("pk"))
            .order_by("activity__sort", "activity__name"))
    return [{"section": r["activity__section"], "name": r["activity__name"],
             "measure": r["activity__measure"], "total": r["total"] or Decimal(0),
             "entries": r["entries"]} for r in rows]


@dataclass
class PlanMeasure:
    """What a plan item's link measures in its year: the indicator's latest 通报 row for the
    item's street, or the cases of the linked category raised / solved in the street."""

    indicator_row: object | None = None
    indicator_period: str = ""
    cases_raised: int | None = None
    cases_solved: int | None = None


def plan_measures(items) -> dict[int, PlanMeasure]:
    from . import indicators as ind

    measures: dict[int, PlanMeasure] = {}
    for item in items:
        measure = PlanMeasure()
        street = item.org_unit.street
        if item.indicator_id and street is not None:
            district = ind.district_of(street)
            month = ind.latest_month(district, item.year) if district else None
            if month:
                rows = ind.bulletin(district, item.year, month, [item.indicator])
                measure.indicator_row = next((r for r in rows if r.street.pk == street.pk), None)
                measure.indicator_period = ind.period_label(item.indicator, month)
        if item.category_id and street is not None:
            cases = Case.objects.filter(category_id=item.category_id, street=street,
                                        created_at__year=item.year)
            measure.cases_raised = cases.count()
            measure.cases_solved = cases.solved().count()
        measures[item.pk] = measure
    return measures
