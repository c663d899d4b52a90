"""Deadlines in hours or in working days (Chinese holidays and make-up workdays).

Working days come from ``chinese-calendar`` (the State Council's yearly holiday notice):
National Day is a holiday even on a weekday, and a make-up Saturday (调休上班) is a workday.
For a year the package does not know yet, Monday to Friday are taken as workdays.

"N working days from T" ends at the same clock time on the N-th working day after T's date,
so a case received on a Friday afternoon with one working day is due on Monday afternoon.
A case received on a holiday counts from the next working day: its deadline is the end of
the N-th working day (23:59:59).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar
from django.utils import timezone

from .models import DeadlineUnit


@lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the calendar has no notice for yet
        return day.weekday() < 5


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    local = timezone.localtime(start) if timezone.is_aware(start) else start
    day = local.date()
    if days <= 0:
        return start
    started_on_workday = is_workday(day)
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    if started_on_workday:
        result = dt.datetime.combine(day, local.time())
    else:
        result = dt.datetime.combine(day, dt.time(23, 59, 59))
    if timezone.is_aware(start):
        result = timezone.make_aware(result, local.tzinfo)
    return result


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end``."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += is_workday(day)
    return count


def deadline_for(start: dt.datetime, value: int, unit: str) -> dt.datetime:
    if unit == DeadlineUnit.HOURS:
        return start + dt.timedelta(hours=value)
    return add_working_days(start, value)


def next_working_day(start: dt.datetime) -> dt.datetime:
    """回访 is due the working day after 办结."""
    return add_working_days(start, 1)
