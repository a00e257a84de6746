"""Inspection figures: coverage of the planned tasks, self-inspection compliance per
institution and the results of the inspections, in total, per inspection kind and per county.

Everything is read through `for_user(user)` (`InspectionTask`, `Inspection`, `Region`). A period is
[date_from, date_to], local dates (Asia/Shanghai), both ends included; by default 1 January of this
year to today (`parse_period`, the same rules as the hazard figures).

- coverage: the tasks due in the period (`due_on` inside it), cancelled ones left out (`planned`);
  of them `done` (status done), `on_time` (done, and the local date of `done_at` on or before
  `due_on`), `late` (done after it), `missed` (status missed) and `open` (still to do). Done rate =
  done ÷ planned, on-time rate = on time ÷ planned. `adhoc`: submitted inspections finished in the
  period that did not come from a task.
- self-inspection compliance of an institution: its self-inspection tasks (kind `self`, cancelled
  left out) due from date_from to min(date_to, today) (`due_until`) — the share done on time. None
  (not listed) when nothing was due. A county's figure (and the scope's) is the average of the rates
  of its institutions that had something due, each institution weighing the same. The
  `TOP_INSTITUTIONS` lowest come first (ties: more tasks due first, then by name).
- results: inspections submitted (finished) in the period by result: pass, pass with findings, fail.

Rates are percentages with one decimal (half up), None when there is nothing to divide by. Every
county of the scope is listed (zeros included), and so is every kind. The number of queries is
constant: one grouped read of the tasks for coverage, one of the self-inspection tasks per
institution, one grouped read of the submitted inspections, one of the county names (plus the
user's roles and scope, read once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.db.models import Count, F, Q
from django.db.models.functions import Substr
from django.utils import timezone

from minan.duty.selectors import COUNTY_PATH_LENGTH
from minan.hazards.metrics.selectors import default_period, parse_period
from minan.regions import selectors as regions
from minan.regions.paths import county_code

from ..models import Inspection, InspectionTask, Kind

__all__ = ["TOP_INSTITUTIONS", "default_period", "figures", "parse_period", "percent"]

TOP_INSTITUTIONS = 20


def percent(value: Fraction | None) -> float | None:
    """A share (0..1) as a percentage with one decimal, half up; None stays None."""
    if value is None:
        return None
    exact = Decimal(value.numerator * 100) / Decimal(value.denominator)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


@dataclass
class Coverage:
    """Planned tasks and what became of them, for the scope, one kind or one county."""

    key: str = ""  # the kind or the county code; "" for the total
    name: str = ""
    planned: int = 0
    done: int = 0
    on_time: int = 0
    missed: int = 0
    open: int = 0
    adhoc: int = 0  # submitted inspections that did not come from a task

    @property
    def late(self) -> int:
        return self.done - self.on_time

    @property
    def done_rate(self) -> float | None:
        return percent(_share(self.done, self.planned))

    @property
    def on_time_rate(self) -> float | None:
        return percent(_share(self.on_time, self.planned))


@dataclass
class Results:
    """Submitted inspections by result, for the scope, one kind or one county."""

    key: str = ""
    name: str = ""
    passed: int = 0
    findings: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.findings + self.failed


@dataclass
class InstitutionCompliance:
    institution_id: int
    name: str
    county: str  # county code
    county_name: str = ""
    due: int = 0
    on_time: int = 0

    @property
    def share(self) -> Fraction | None:
        return _share(self.on_time, self.due)

    @property
    def rate(self) -> float | None:
        return percent(self.share)


@dataclass
class CountyCompliance:
    """The average self-inspection compliance of the institutions of a county (or of the scope)."""

    key: str = ""
    name: str = ""
    institutions: int = 0  # with a self-inspection task due
    due: int = 0
    on_time: int = 0
    shares: Fraction = field(default_factory=Fraction)  # sum of the institutions' shares

    def add(self, row: InstitutionCompliance) -> None:
        self.institutions += 1
        self.due += row.due
        self.on_time += row.on_time
        self.shares += row.share or 0

    @property
    def average(self) -> float | None:
        return percent(self.shares / self.institutions) if self.institutions else None


@dataclass
class InspectionFigures:
    date_from: dt.date
    date_to: dt.date
    today: dt.date
    due_until: dt.date  # compliance counts tasks due up to this day
    coverage: Coverage
    coverage_by_kind: list[Coverage]
    coverage_by_county: list[Coverage]
    results: Results
    results_by_kind: list[Results]
    results_by_county: list[Results]
    compliance: CountyCompliance
    compliance_by_county: list[CountyCompliance]
    lowest_compliance: list[InstitutionCompliance]


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def figures(
    user: Any, date_from: dt.date, date_to: dt.date, *, today: dt.date | None = None
) -> InspectionFigures:
    """The inspection figures of the user's scope for the period (see the module docstring)."""
    today = today or timezone.localdate()
    due_until = min(date_to, today)
    start, end = _day_start(date_from), _day_start(date_to + dt.timedelta(days=1))
    county = Substr("region_path", 1, COUNTY_PATH_LENGTH)
    tasks = InspectionTask.objects.for_user(user).annotate(county=county)
    on_time_q = Q(status=InspectionTask.Status.DONE, done_at__date__lte=F("due_on"))

    coverage = Coverage()
    by_kind = {kind.value: Coverage(kind.value, str(kind.label)) for kind in Kind}
    by_county: dict[str, Coverage] = {}

    def coverage_rows(kind: str, code: str) -> tuple[Coverage, ...]:
        row = by_county.setdefault(code, Coverage(code, code))
        return (coverage, by_kind.setdefault(kind, Coverage(kind, kind)), row)

    planned = (
        tasks.filter(due_on__gte=date_from, due_on__lte=date_to)
        .exclude(status=InspectionTask.Status.CANCELLED)
        .values_list("county", "kind")
        .annotate(
            n=Count("pk"),
            done=Count("pk", filter=Q(status=InspectionTask.Status.DONE)),
            on_time=Count("pk", filter=on_time_q),
            missed=Count("pk", filter=Q(status=InspectionTask.Status.MISSED)),
            still_open=Count("pk", filter=Q(status=InspectionTask.Status.OPEN)),
        )
        .order_by()
    )
    for prefix, kind, n, done, on_time, missed, still_open in planned:
        for row in coverage_rows(kind, county_code(prefix)):
            row.planned += n
            row.done += done
            row.on_time += on_time
            row.missed += missed
            row.open += still_open

    # Self-inspection compliance per institution.
    institutions: list[InstitutionCompliance] = []
    if date_from <= due_until:
        due = (
            tasks.filter(kind=Kind.SELF, due_on__gte=date_from, due_on__lte=due_until)
            .exclude(status=InspectionTask.Status.CANCELLED)
            .values_list("county", "institution_id", "institution__name")
            .annotate(n=Count("pk"), on_time=Count("pk", filter=on_time_q))
            .order_by()
        )
        merged: dict[int, InstitutionCompliance] = {}
        for prefix, institution_id, name, n, on_time in due:
            entry = merged.setdefault(
                institution_id, InstitutionCompliance(institution_id, name, county_code(prefix))
            )
            entry.due += n
            entry.on_time += on_time
        institutions = list(merged.values())

    # Submitted inspections: results, and those not from a task (ad hoc).
    results = Results()
    results_by_kind = {kind.value: Results(kind.value, str(kind.label)) for kind in Kind}
    results_by_county: dict[str, Results] = {}
    submitted = (
        Inspection.objects.for_user(user)
        .filter(status=Inspection.Status.SUBMITTED, finished_at__gte=start, finished_at__lt=end)
        .annotate(county=county)
        .values_list("county", "kind", "result")
        .annotate(n=Count("pk"), adhoc=Count("pk", filter=Q(task__isnull=True)))
        .order_by()
    )
    for prefix, kind, result, n, adhoc in submitted:
        code = county_code(prefix)
        for cov in coverage_rows(kind, code):
            cov.adhoc += adhoc
        for tally in (
            results,
            results_by_kind.setdefault(kind, Results(kind, kind)),
            results_by_county.setdefault(code, Results(code, code)),
        ):
            if result == Inspection.Result.PASS:
                tally.passed += n
            elif result == Inspection.Result.FINDINGS:
                tally.findings += n
            else:
                tally.failed += n

    # Counties: those with figures and every county of the scope (all zero), with their names.
    codes = set(by_county) | set(results_by_county) | {row.county for row in institutions}
    names = regions.names(codes, counties_of=user)
    counties = sorted(codes | set(names))

    compliance = CountyCompliance()
    compliance_by_county = {code: CountyCompliance(code, names.get(code, code)) for code in counties}
    for place in institutions:
        place.county_name = names.get(place.county, place.county)
        compliance.add(place)
        compliance_by_county[place.county].add(place)
    lowest = sorted(institutions, key=lambda r: (r.share or 0, -r.due, r.name, r.institution_id))

    for code in counties:
        by_county.setdefault(code, Coverage(code)).name = names.get(code, code)
        results_by_county.setdefault(code, Results(code)).name = names.get(code, code)
    return InspectionFigures(
        date_from=date_from,
        date_to=date_to,
        today=today,
        due_until=due_until,
        coverage=coverage,
        coverage_by_kind=list(by_kind.values()),
        coverage_by_county=[by_county[c] for c in counties],
        results=results,
        results_by_kind=list(results_by_kind.values()),
        results_by_county=[results_by_county[c] for c in counties],
        compliance=compliance,
        compliance_by_county=[compliance_by_county[c] for c in counties],
        lowest_compliance=lowest[:TOP_INSTITUTIONS],
    )
