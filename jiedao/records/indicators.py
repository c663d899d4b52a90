"""Economic indicators: progress, year-on-year growth and the district ranking (通报).

Definitions (also in docs/readme/records.md):

- A value is the figure reported for months 1–N of a year (cumulative indicators) or at the
  end of month N (the others). The month's own amount of a cumulative indicator is the
  difference between two consecutive cumulative figures.
- progress % = actual ÷ annual target × 100; year-on-year % = (actual − actual of the same
  months last year) ÷ that × 100. Both are computed in Decimal and rounded half-up to two
  decimal places (``PERCENT``); a missing or zero divisor gives ``None``, never 0.
- Rank: among the active streets of the district, by rounded progress, highest first, with
  competition ranking (1, 2, 2, 4): streets with the same published progress share a rank.
  A street without a target or without a figure for that month is listed, unranked, after
  the ranked ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from jiedao.accounts.access import has_cap, scope_paths
from jiedao.accounts.roles import Cap
from jiedao.core.models import OrgUnit, OrgUnitKind

from .models import Indicator, IndicatorTarget, IndicatorValue

PERCENT = Decimal("0.01")
HUNDRED = Decimal(100)


def percent(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
    """numerator ÷ denominator × 100, rounded half-up to 0.01; None without a divisor."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return (Decimal(numerator) * HUNDRED / Decimal(denominator)).quantize(PERCENT, ROUND_HALF_UP)


def progress(actual: Decimal | None, target: Decimal | None) -> Decimal | None:
    return percent(actual, target)


def yoy(actual: Decimal | None, last_year: Decimal | None) -> Decimal | None:
    if actual is None or last_year is None:
        return None
    return percent(Decimal(actual) - Decimal(last_year), last_year)


def competition_rank[K](values: Iterable[tuple[K, Decimal | None]]) -> dict[K, int | None]:
    """Rank by value, highest first; equal values share the rank (1, 2, 2, 4); None is
    unranked."""
    values = list(values)
    ranked = sorted(((v, k) for k, v in values if v is not None), key=lambda p: -p[0])
    ranks: dict[K, int | None] = {}
    previous: Decimal | None = None
    rank = 0
    for position, (value, key) in enumerate(ranked, start=1):
        if value != previous:
            rank, previous = position, value
        ranks[key] = rank
    for key, _value in values:
        ranks.setdefault(key, None)
    return ranks


def monthly_amounts(cumulative: dict[int, Decimal]) -> dict[int, Decimal | None]:
    """The month's own amount from cumulative figures: cum[N] − cum[N−1] (cum[0] = 0).
    Unknown when either figure is missing."""
    amounts: dict[int, Decimal | None] = {}
    for month in range(1, 13):
        if month not in cumulative:
            continue
        before = Decimal(0) if month == 1 else cumulative.get(month - 1)
        amounts[month] = None if before is None else cumulative[month] - before
    return amounts


def period_label(indicator: Indicator, month: int) -> str:
    if indicator.cumulative:
        return _("1月") if month == 1 else _("1-%(m)d月") % {"m": month}
    return _("%(m)d月末") % {"m": month}


# --- the district and who may enter what -------------------------------------------------

def district_of(unit: OrgUnit) -> OrgUnit | None:
    if unit.kind == OrgUnitKind.DISTRICT:
        return unit
    return unit.ancestors().filter(kind=OrgUnitKind.DISTRICT).first()


def streets_of(district: OrgUnit) -> list[OrgUnit]:
    return list(OrgUnit.objects.filter(parent=district, kind=OrgUnitKind.STREET, is_active=True)
                .order_by("code", "name"))


def districts_for(user) -> list[OrgUnit]:
    """The districts whose 通报 a user may read: those above (or at) any unit where they hold
    BUSINESS_READ or DISTRICT_STATS. The 通报 is published to every street of the district,
    so it shows all of them; a street's own entry pages stay scoped."""
    ids: set[int] = set()
    for cap in (Cap.BUSINESS_READ, Cap.DISTRICT_STATS):
        for path in scope_paths(user, cap):
            ids.add(int(path.strip("/").split("/")[0]))
    return list(OrgUnit.objects.filter(pk__in=ids, kind=OrgUnitKind.DISTRICT).order_by("code"))


def entry_departments() -> tuple[str, ...]:
    """Departments whose staff enter their street's indicators (经济发展办 by default)."""
    return tuple(getattr(settings, "JIEDAO_INDICATOR_DEPARTMENTS", ("经济发展办",)))


def may_enter(user, street: OrgUnit) -> bool:
    """District statisticians for every street of their district; a street's leaders and
    street-level staff, and the staff of its economic department, for that street."""
    if street.kind != OrgUnitKind.STREET:
        return False
    if has_cap(user, Cap.DISTRICT_STATS, street) or has_cap(user, Cap.BUSINESS_WRITE, street):
        return True
    departments = OrgUnit.objects.filter(parent=street, kind=OrgUnitKind.DEPARTMENT,
                                         name__in=entry_departments(), is_active=True)
    return any(has_cap(user, Cap.BUSINESS_WRITE, dept) for dept in departments)


def enterable_streets(user) -> list[OrgUnit]:
    streets = OrgUnit.objects.filter(kind=OrgUnitKind.STREET, is_active=True).order_by("path")
    return [s for s in streets if may_enter(user, s)]


def readable_street(user, street: OrgUnit) -> bool:
    return has_cap(user, Cap.BUSINESS_READ, street) or has_cap(user, Cap.DISTRICT_STATS, street)


# --- the 通报 -----------------------------------------------------------------------------

@dataclass
class BulletinRow:
    indicator: Indicator
    street: OrgUnit
    target: Decimal | None
    actual: Decimal | None
    last_year: Decimal | None
    progress: Decimal | None
    yoy: Decimal | None
    rank: int | None

    def as_json(self) -> dict:
        def number(value: Decimal | None) -> int | float | None:
            if value is None:
                return None
            return int(value) if value == value.to_integral_value() else float(value)

        return {
            "indicator": self.indicator.name,
            "street": self.street.name,
            "target": number(self.target),
            "actual": number(self.actual),
            "progress": number(self.progress),
            "yoy": number(self.yoy),
            "rank": self.rank,
        }


def bulletin(district: OrgUnit, year: int, month: int,
             indicators: Iterable[Indicator] | None = None) -> list[BulletinRow]:
    """Per indicator and street of the district: target, actual, progress, YoY, rank.
    Rows come per indicator, ranked streets first by rank, then the unranked by code."""
    streets = streets_of(district)
    indicators = list(indicators if indicators is not None
                      else Indicator.objects.filter(is_active=True))
    street_ids = [s.pk for s in streets]
    ind_ids = [i.pk for i in indicators]
    targets = {(t.indicator_id, t.org_unit_id): t.target for t in IndicatorTarget.objects.filter(
        indicator_id__in=ind_ids, org_unit_id__in=street_ids, year=year)}
    values = {(v.indicator_id, v.org_unit_id, v.year): v.actual for v in IndicatorValue.objects.filter(
        Q(year=year) | Q(year=year - 1), indicator_id__in=ind_ids, org_unit_id__in=street_ids,
        month=month)}
    rows: list[BulletinRow] = []
    for indicator in indicators:
        block = []
        for street in streets:
            target = targets.get((indicator.pk, street.pk))
            actual = values.get((indicator.pk, street.pk, year))
            last = values.get((indicator.pk, street.pk, year - 1))
            block.append(BulletinRow(indicator, street, target, actual, last,
                                     progress(actual, target), yoy(actual, last), None))
        ranks = competition_rank([(row.street.pk, row.progress) for row in block])
        for row in block:
            row.rank = ranks.get(row.street.pk)
        block.sort(key=lambda r: (r.rank is None, r.rank or 0, r.street.code, r.street.name))
        rows.extend(block)
    return rows


@dataclass
class Series:
    """One street's year of an indicator, for the chart."""

    months: list[int]
    actual: list[Decimal | None]  # cumulative (or month-end) figure per month
    last_year: list[Decimal | None]
    monthly: list[Decimal | None]  # the month's own amount (cumulative indicators)
    target: Decimal | None


def series(indicator: Indicator, street: OrgUnit, year: int) -> Series:
    figures = {(v.year, v.month): v.actual for v in IndicatorValue.objects.filter(
        indicator=indicator, org_unit=street, year__in=(year, year - 1))}
    this_year = {m: a for (y, m), a in figures.items() if y == year}
    amounts = monthly_amounts(this_year) if indicator.cumulative else {}
    target = (IndicatorTarget.objects.filter(indicator=indicator, org_unit=street, year=year)
              .values_list("target", flat=True).first())
    months = list(range(1, 13))
    return Series(
        months=months,
        actual=[this_year.get(m) for m in months],
        last_year=[figures.get((year - 1, m)) for m in months],
        monthly=[amounts.get(m) for m in months],
        target=target,
    )


def latest_month(district: OrgUnit, year: int) -> int | None:
    """The last month of ``year`` for which any street of the district has a figure."""
    return (IndicatorValue.objects.filter(org_unit__parent=district, year=year)
            .order_by("-month").values_list("month", flat=True).first())
