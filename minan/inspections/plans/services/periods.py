"""Periods of a cadence and due days: pure date arithmetic over the working-day calendar."""

from __future__ import annotations

import datetime as dt

from minan.core import calendar

from ...models import InspectionPlan

Cadence = InspectionPlan.Cadence
HALF_YEARLY = "half_yearly"  # a period only risk classes use (2 inspections a year)
# Periods a year of each cadence, shortest last: a class needing n inspections a year gets the first
# cadence with at least n periods.
PERIODS_PER_YEAR = {Cadence.YEARLY: 1, HALF_YEARLY: 2, Cadence.QUARTERLY: 4, Cadence.MONTHLY: 12,
                    Cadence.WEEKLY: 52, Cadence.DAILY: 366}  # fmt: skip


def periods(cadence: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The period [start, end] of a cadence containing a day: weeks start on Monday; quarters and
    half-years are calendar ones."""
    if cadence == Cadence.DAILY:
        return day, day
    if cadence == Cadence.WEEKLY:
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=6)
    months = {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 3, HALF_YEARLY: 6, Cadence.YEARLY: 12}.get(cadence)
    if months is None:
        raise ValueError(f"no period for cadence {cadence!r}")
    first = (day.month - 1) // months * months + 1
    start = dt.date(day.year, first, 1)
    last = first + months  # the month after the period
    end = (dt.date(day.year + 1, 1, 1) if last > 12 else dt.date(day.year, last, 1)) - dt.timedelta(days=1)
    return start, end


def class_cadence(per_year: int) -> str:
    """The shortest listed period that gives at least `per_year` inspections a year."""
    for cadence, count in PERIODS_PER_YEAR.items():
        if per_year <= count:
            return cadence
    return Cadence.DAILY


def due_date(
    plan: InspectionPlan, start: dt.date, end: dt.date, *, days: calendar.WorkingDays | None = None
) -> dt.date:
    """When a task of the period [start, end] is due: the period's last working day, or, with
    `due_working_days` = N, the N-th working day after the period starts (after the plan starts, if
    later), but never after the period's last working day. A period without a working day (a daily
    task on a holiday) is due on the next working day. Raises CalendarNotLoaded for an unloaded year."""
    days = days or calendar.WorkingDays()
    last = end
    while last >= start and not days.is_workday(last):
        last -= dt.timedelta(days=1)
    if last < start:
        last = end + dt.timedelta(days=1)
        while not days.is_workday(last):
            last += dt.timedelta(days=1)
        return last
    if plan.due_working_days is None:
        return last
    current, counted = max(start, plan.starts_on), 0
    if plan.due_working_days == 0:
        while not days.is_workday(current) and current < last:
            current += dt.timedelta(days=1)
        return min(current, last)
    while counted < plan.due_working_days and current < last:
        current += dt.timedelta(days=1)
        if days.is_workday(current):
            counted += 1
    return min(current, last)
