"""Hazard figures: rectification and on-time rates, working days to close, reopen rate
and 动态清零, in total, per county and for the institutions with the most open hazards.

Everything is read through `Hazard.objects.for_user(user)`. A period is [date_from, date_to], local
dates (Asia/Shanghai), both ends included; by default 1 January of this year to today.

- open by level, overdue, 动态清零: now (open = `workflow.OPEN_STATES`; overdue = `workflow.overdue_q`;
  动态清零 = no open major hazard).
- found: found in the period, cancelled ones left out; rectification rate: the share of them now closed.
- of the hazards closed in the period (`closed_at`): on-time rate (of those with a deadline, accepted
  on or before it), average working days from the notice (or the finding, without a notice) to the
  close-out (`calendar.working_days_between`) less the working days its deadline clock was paused,
  reopen rate (reopened at least once).

Rates are percentages with one decimal (half up), None when there is nothing to divide by. The number
of queries is constant: three grouped reads of hazards, one of region names and the calendar tables
once per year the closed hazards span; working days are counted in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.utils import timezone

from minan.core import calendar, period
from minan.duty.selectors import COUNTY_PATH_LENGTH
from minan.hazards.models import Hazard
from minan.hazards.workflow import OPEN_STATES, overdue_q
from minan.regions import selectors as regions
from minan.regions.paths import county_code

TOP_INSTITUTIONS = 20


def _rate(part: int, whole: int) -> float | None:
    if not whole:
        return None
    value = (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return float(value)


@dataclass
class Figures:
    """The figures of one place (all of the scope, a county or an institution)."""

    code: str = ""  # county code (county rows)
    name: str = ""
    institution_id: int | None = None  # institution rows
    open_general: int = 0
    open_major: int = 0
    overdue: int = 0
    found: int = 0
    rectified: int = 0  # of `found`, now closed
    closed: int = 0  # closed in the period
    with_deadline: int = 0  # of `closed`, those that had a deadline
    on_time: int = 0  # of `with_deadline`, accepted on or before it
    reopened: int = 0  # of `closed`, reopened at least once
    days_counted: int = 0  # of `closed`, those whose working days could be counted
    days_total: int = 0

    @property
    def open_total(self) -> int:
        return self.open_general + self.open_major

    @property
    def open_by_level(self) -> dict[str, int]:
        return {Hazard.Level.GENERAL.value: self.open_general, Hazard.Level.MAJOR.value: self.open_major}

    @property
    def rectification_rate(self) -> float | None:
        return _rate(self.rectified, self.found)

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.on_time, self.with_deadline)

    @property
    def avg_working_days_to_close(self) -> float | None:
        if not self.days_counted:
            return None
        value = (Decimal(self.days_total) / Decimal(self.days_counted)).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )
        return float(value)

    @property
    def reopen_rate(self) -> float | None:
        return _rate(self.reopened, self.closed)

    @property
    def zero_major(self) -> bool:
        """动态清零: no major hazard open."""
        return self.open_major == 0


@dataclass
class HazardFigures:
    date_from: dt.date
    date_to: dt.date
    today: dt.date
    total: Figures
    counties: list[Figures]
    institutions: list[Figures]
    # Years whose working-day calendar is not loaded: closed hazards spanning them are left out of the
    # average working days.
    calendar_missing: list[int] = field(default_factory=list)


# --- the period ----------------------------------------------------------------------------------------------


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    return today.replace(month=1, day=1), today


def parse_period(params: Mapping[str, Any], today: dt.date) -> tuple[dt.date, dt.date]:
    """`from` and `to` (YYYY-MM-DD; either may be left out: the default start or end)."""
    return period.parse_period(params, default_period(today))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# --- working days ---------------------------------------------------------------------------------------------


class _WorkingDays:
    """Working-day ordinals over [first, last], read with one calendar reader (its tables once per year),
    so that the working days of each hazard are one subtraction: the count of
    `calendar.working_days_between`. Days of a year whose calendar is not loaded are unknown."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        days = calendar.WorkingDays()
        self.first = first
        self.missing: set[int] = set()
        self.ordinal: list[int] = []
        self.unknown: list[int] = []
        worked = unknown = 0
        day = first
        while day <= last:
            if day.year in self.missing:
                unknown += 1
            else:
                try:
                    worked += int(days.is_workday(day))
                except calendar.CalendarNotLoaded:
                    self.missing.add(day.year)
                    unknown += 1
            self.ordinal.append(worked)
            self.unknown.append(unknown)
            day += dt.timedelta(days=1)

    def between(self, start: dt.date, end: dt.date) -> int | None:
        """Working days in (start, end], negative when end is before start; None if a day is unknown."""
        if end < start:
            back = self.between(end, start)
            return None if back is None else -back
        i, j = (start - self.first).days, (end - self.first).days
        if self.unknown[j] != self.unknown[i]:
            return None
        return self.ordinal[j] - self.ordinal[i]


# --- the figures ----------------------------------------------------------------------------------------------


class _Places:
    """Figures per county and per institution, and their sum."""

    def __init__(self) -> None:
        self.total = Figures()
        self.counties: dict[str, Figures] = {}
        self.institutions: dict[int, Figures] = {}

    def rows(self, prefix: str, institution_id: int, institution_name: str) -> Iterable[Figures]:
        code = county_code(prefix)
        county = self.counties.setdefault(code, Figures(code=code, name=code))
        institution = self.institutions.setdefault(
            institution_id, Figures(name=institution_name, institution_id=institution_id)
        )
        return (self.total, county, institution)


def figures(
    user: Any, date_from: dt.date, date_to: dt.date, *, today: dt.date | None = None
) -> HazardFigures:
    """The hazard figures of the user's scope for the period (see the module docstring)."""
    today = today or timezone.localdate()
    start, end = _day_start(date_from), _day_start(date_to + dt.timedelta(days=1))
    hazards = Hazard.objects.for_user(user).annotate(county=Substr("region_path", 1, COUNTY_PATH_LENGTH))
    places = _Places()

    open_rows = (
        hazards.filter(status__in=OPEN_STATES)
        .values_list("county", "institution_id", "institution__name", "level")
        .annotate(n=Count("pk"), late=Count("pk", filter=overdue_q(today)))
        .order_by()
    )
    for prefix, institution_id, name, level, n, late in open_rows:
        for row in places.rows(prefix, institution_id, name):
            if level == Hazard.Level.MAJOR:
                row.open_major += n
            else:
                row.open_general += n
            row.overdue += late

    found_rows = (
        hazards.filter(found_at__gte=start, found_at__lt=end)
        .exclude(status=Hazard.Status.CANCELLED)
        .values_list("county", "institution_id", "institution__name")
        .annotate(n=Count("pk"), closed=Count("pk", filter=Q(status=Hazard.Status.CLOSED)))
        .order_by()
    )
    for prefix, institution_id, name, n, closed in found_rows:
        for row in places.rows(prefix, institution_id, name):
            row.found += n
            row.rectified += closed

    closed_rows = list(
        hazards.filter(closed_at__gte=start, closed_at__lt=end).values_list(
            "county", "institution_id", "institution__name", "assigned_on", "found_at", "accepted_at",
            "closed_at", "deadline", "reopened", "paused_days",
        )
    )  # fmt: skip
    spans = [
        (assigned_on or timezone.localdate(found_at), timezone.localdate(closed_at))
        for _p, _i, _n, assigned_on, found_at, _a, closed_at, _d, _r, _paused in closed_rows
    ]
    counter = None
    if spans:
        counter = _WorkingDays(min(min(s) for s in spans), max(max(s) for s in spans))
    for (prefix, institution_id, name, _o, _f, accepted_at, _c, deadline, reopened, paused), (
        first,
        last,
    ) in zip(closed_rows, spans, strict=True):
        # Approved pauses do not count.
        days = counter.between(first, last) if counter is not None else None
        days = None if days is None else max(days - paused, 0)
        on_time = (
            accepted_at is not None and deadline is not None and timezone.localdate(accepted_at) <= deadline
        )
        for row in places.rows(prefix, institution_id, name):
            row.closed += 1
            row.with_deadline += deadline is not None
            row.on_time += on_time
            row.reopened += reopened > 0
            if days is not None:
                row.days_counted += 1
                row.days_total += days

    # County names; the counties of the scope with no hazard at all are listed too (all zero).
    for code, name in regions.names(places.counties, counties_of=user).items():
        places.counties.setdefault(code, Figures(code=code)).name = name

    ranked = sorted(
        places.institutions.values(),
        key=lambda f: (-f.open_total, -f.overdue, -f.found, f.name, f.institution_id or 0),
    )
    return HazardFigures(
        date_from=date_from,
        date_to=date_to,
        today=today,
        total=places.total,
        counties=[places.counties[c] for c in sorted(places.counties)],
        institutions=ranked[:TOP_INSTITUTIONS],
        calendar_missing=sorted(counter.missing) if counter is not None else [],
    )
