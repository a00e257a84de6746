"""Working-day calendar: the only place deadlines are counted.

Resolution order for a date: an override entry → the `chinesecalendar` package when it covers the
year → for a year an administrator marked as loaded, Monday–Friday work → otherwise
`CalendarNotLoaded`. There is never a silent fallback to plain weekdays. The writers (loading a year,
overrides) are in `minan.core.services`.
"""

from __future__ import annotations

import datetime as dt
import logging

import chinese_calendar
from django.conf import settings
from django.utils.translation import gettext as _

from minan.core.errors import DomainError

from .models import CalendarOverride, CalendarYear

logger = logging.getLogger("minan.calendar")


class CalendarNotLoaded(DomainError):
    code = "calendar_not_loaded"

    def __init__(self, year: int) -> None:
        super().__init__(
            _("The working-day calendar for %(year)d is not loaded; an administrator must enter it.")
            % {"year": year}
        )
        self.year = year
        # Reported, not only raised: operators see every deadline that could not be computed.
        logger.error("working-day calendar for %d is not loaded; a deadline could not be computed", year)


def package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class _Days:
    """Answers is_workday for dates, loading overrides and loaded years once per computation."""

    def __init__(self) -> None:
        self.overrides: dict[dt.date, bool] = {}
        self.loaded_years: set[int] = set()
        self.fetched: set[int] = set()

    def _fetch(self, year: int) -> None:
        if year in self.fetched:
            return
        self.fetched.add(year)
        self.overrides.update(
            CalendarOverride.objects.filter(date__year=year).values_list("date", "is_workday")
        )
        if CalendarYear.objects.filter(year=year).exists():
            self.loaded_years.add(year)

    def is_workday(self, day: dt.date) -> bool:
        self._fetch(day.year)
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year in self.loaded_years:
                return day.weekday() < 5
            raise CalendarNotLoaded(day.year) from None


def is_workday(day: dt.date) -> bool:
    return _Days().is_workday(day)


class WorkingDays(_Days):
    """One calendar reader for many dates (sweeps, figures): overrides and loaded years are read once
    per year, not once per date."""


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The n-th working day after `start` (the start day is not counted); n = 0 → start itself
    if it is a working day, else the next working day."""
    if n < 0:
        raise ValueError("n must be zero or positive")
    days = _Days()
    current = start
    if n == 0:
        while not days.is_workday(current):
            current += dt.timedelta(days=1)
        return current
    counted = 0
    while counted < n:
        current += dt.timedelta(days=1)
        if days.is_workday(current):
            counted += 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]: add_working_days(a, working_days_between(a, b)) <= b.

    Negative when end is before start."""
    if end < start:
        return -working_days_between(end, start)
    days = _Days()
    count, current = 0, start
    while current < end:
        current += dt.timedelta(days=1)
        if days.is_workday(current):
            count += 1
    return count


def add_calendar_days(start: dt.date, n: int) -> dt.date:
    """A period of n calendar days (民法典 Art. 200–204): ends n days after start; a last day that is
    a rest day moves to the next working day."""
    return add_working_days(start + dt.timedelta(days=n), 0)


def missing_year_warning(today: dt.date, warn_from: str | None = None) -> str | None:
    """From `warn_from` (MM-DD, default 11-01) warn when next year's calendar is not loaded."""
    month, day = (int(part) for part in (warn_from or settings.CALENDAR_WARN_FROM).split("-"))
    # Compare (month, day) pairs rather than building a date: "02-29" is a valid setting in every year.
    year = today.year + 1 if (today.month, today.day) >= (month, day) else today.year
    for check in sorted({today.year, year}):
        if not package_covers(check) and not CalendarYear.objects.filter(year=check).exists():
            return _(
                "The working-day calendar for %(year)d is not loaded. Deadlines that fall in %(year)d cannot be "
                "computed until an administrator enters that year's holidays and 调休 working days."
            ) % {"year": check}
    return None
