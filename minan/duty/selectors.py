"""Scoped reads of the 包保 network."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from minan.accounts.models import User
from minan.core import figures
from minan.institutions.models import Commissioner, Institution
from minan.regions import selectors as regions
from minan.regions.paths import county_code

from .models import DutyAssignment, DutyItem, DutyPost, GroupCounty, Recurrence


def unassigned(user: Any) -> Any:
    """Operating institutions in scope with no active cadre — or whose cadre's account is disabled
    (they count as unassigned the same day)."""
    covered = DutyAssignment.objects.filter(institution=OuterRef("pk"), active=True, cadre__is_active=True)
    return (
        Institution.objects.for_user(user)
        .filter(status=Institution.Status.OPERATING)
        .annotate(covered=Exists(covered))
        .filter(covered=False)
    )


def cadre_loads(user: Any) -> Any:
    """Cadres in the user's scope with their number of active assignments; `overloaded` above the limit."""
    return (
        User.objects.for_user(user)
        .filter(role_grants__role="cadre")
        .annotate(load=Count("duty_assignments", filter=Q(duty_assignments__active=True)))
        .order_by("-load", "username")
    )


def max_load() -> int:
    return int(settings.CADRE_MAX_LOAD)


def coverage_by_county(user: Any) -> list[tuple[str, str, int, int, float]]:
    """(county code, name, operating institutions, with an active cadre, percent) inside the scope."""

    covered = DutyAssignment.objects.filter(institution=OuterRef("pk"), active=True, cadre__is_active=True)
    rows = (
        Institution.objects.for_user(user)
        .filter(status=Institution.Status.OPERATING)
        .annotate(covered=Exists(covered))
        .values_list("region_path", "covered")
    )
    counts: dict[str, list[int]] = {}
    for path, is_covered in rows:
        entry = counts.setdefault(county_code(path), [0, 0])
        entry[0] += 1
        entry[1] += int(bool(is_covered))
    names = regions.names(counts)
    return [
        (code, names.get(code, code), n, ok, round(100 * ok / n, 1))
        for code, (n, ok) in sorted(counts.items())
    ]


# --- duty visits: the rule and what is due ---------------------------------------------------------------

_MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3, Recurrence.HALF_YEARLY: 6, Recurrence.YEARLY: 12}


def visit_rule() -> str | None:
    """How often each assigned institution must be visited: the recurrence of the duty that carries the
    visit task (seeded on the responsible cadre's post as monthly). None when no duty carries it."""
    return (
        DutyItem.objects.filter(task=DutyItem.Task.DUTY_VISIT)
        .exclude(recurrence="")
        .values_list("recurrence", flat=True)
        .first()
    )


def add_period(day: dt.date, recurrence: str) -> dt.date:
    """`day` plus one period; months keep the day of the month, clamped to the month's last day."""
    if recurrence == Recurrence.DAILY:
        return day + dt.timedelta(days=1)
    if recurrence == Recurrence.WEEKLY:
        return day + dt.timedelta(days=7)
    months = day.month - 1 + _MONTHS[Recurrence(recurrence)]
    year, month = day.year + months // 12, months % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class VisitDue:
    assignment: DutyAssignment
    last_visit: dt.date | None
    next_due: dt.date | None  # None: no visit rule configured

    @property
    def overdue(self) -> bool:
        return self.next_due is not None and self.next_due < timezone.localdate()


def visit_schedule(assignments: Any, rule: str | None = None) -> list[VisitDue]:
    """For each (active) assignment: the cadre's last visit since the assignment began (the rollup
    `last_visit_on`) and the next due date (last visit, or the start of the assignment, plus one
    period of the rule)."""
    rule = visit_rule() if rule is None else rule
    return [
        VisitDue(a, a.last_visit_on, add_period(a.last_visit_on or a.starts_on, rule) if rule else None)
        for a in assignments
    ]


_LONGEST_PERIOD = {
    Recurrence.DAILY: 1, Recurrence.WEEKLY: 7, Recurrence.MONTHLY: 31, Recurrence.QUARTERLY: 92,
    Recurrence.HALF_YEARLY: 184, Recurrence.YEARLY: 366,
}  # fmt: skip


def overdue_cutoff(today: dt.date, rule: str) -> dt.date:
    """The earliest date whose next visit is not overdue today: a last visit (or assignment start)
    before it is overdue. `add_period` never decreases, so the rule becomes one comparison in SQL."""
    day = today - dt.timedelta(days=_LONGEST_PERIOD[Recurrence(rule)] + 1)
    while add_period(day, rule) < today:
        day += dt.timedelta(days=1)
    return day


def overdue_assignments(user: Any, today: dt.date | None = None, rule: str | None = None) -> Any:
    """Active assignments inside the user's scope whose visit is overdue, the longest overdue first:
    a cadre sees their own, a supervision group (leader and members) the counties it covers, a county
    officer the county. A queryset, counted and sliced in SQL; empty when no visit rule is configured."""
    rule = rule or visit_rule()
    if rule is None:
        return DutyAssignment.objects.none()
    cutoff = overdue_cutoff(today or timezone.localdate(), rule)
    return (
        DutyAssignment.objects.for_user(user)
        .filter(active=True)
        .annotate(basis=Coalesce("last_visit_on", "starts_on"))
        .filter(basis__lt=cutoff)
        .select_related("institution__region", "cadre")
        .order_by("basis", "institution__name")
    )


def overdue_visits(user: Any, limit: int | None = None) -> list[VisitDue]:
    """The overdue assignments as schedule rows (at most `limit`)."""
    rule = visit_rule()
    rows = overdue_assignments(user, rule=rule)
    return visit_schedule(rows[:limit] if limit is not None else rows, rule or "")


def my_institutions(user: Any) -> list[VisitDue]:
    """The cadre's own active assignments with the institution, its class and visit dates."""
    assignments = (
        DutyAssignment.objects.for_user(user)
        .filter(cadre=user, active=True)
        .select_related("institution__region", "institution__risk_class", "institution__class_override")
        .order_by("institution__name")
    )
    return visit_schedule(assignments)


def institution_facts(code: str, ids: list[int]) -> dict[int, int] | None:
    """Per-institution figures other modules provide (`open_hazards`, `open_alarms`) through
    `minan.core.figures`; None while no module provides the figure."""
    return figures.values(code, ids)


# --- coverage figures for the dashboard -------------------------------------------------------------------


@dataclass
class CountyCoverage:
    code: str
    name: str
    operating: int = 0
    with_cadre: int = 0
    visited: int = 0

    @property
    def cadre_rate(self) -> float:
        return round(100 * self.with_cadre / self.operating, 1) if self.operating else 0.0

    @property
    def visit_rate(self) -> float:
        return round(100 * self.visited / self.operating, 1) if self.operating else 0.0


COUNTY_PATH_LENGTH = len("370000/370800/370811/")  # province/city/county codes are 6 digits each


def coverage_figures(user: Any, today: dt.date | None = None) -> tuple[CountyCoverage, list[CountyCoverage]]:
    """% of operating institutions with an active cadre and % whose cadre visited this calendar month,
    in total and per county, inside the user's scope. Two grouped queries (institutions, and active
    assignments with the `last_visit_on` rollup) plus the county names; no per-row subquery."""

    today = today or timezone.localdate()
    county = Substr("region_path", 1, COUNTY_PATH_LENGTH)
    operating = (
        Institution.objects.for_user(user)
        .filter(status=Institution.Status.OPERATING)
        .annotate(county=county)
        .values_list("county")
        .annotate(n=Count("pk"))
        .order_by()
    )
    assigned = (
        DutyAssignment.objects.for_user(user)
        .filter(active=True, cadre__is_active=True, institution__status=Institution.Status.OPERATING)
        .annotate(county=county)
        .values_list("county")
        .annotate(n=Count("pk"), visited=Count("pk", filter=Q(last_visit_on__gte=today.replace(day=1))))
        .order_by()
    )
    counties: dict[str, CountyCoverage] = {}
    for prefix, n in operating:
        code = county_code(prefix)
        counties.setdefault(code, CountyCoverage(code, code)).operating += n
    for prefix, n, visited in assigned:
        entry = counties.setdefault(county_code(prefix), CountyCoverage(county_code(prefix), ""))
        entry.with_cadre += n
        entry.visited += visited
    total = CountyCoverage("", "")
    for entry in counties.values():
        total.operating += entry.operating
        total.with_cadre += entry.with_cadre
        total.visited += entry.visited
    for code, name in regions.names(counties).items():
        counties[code].name = name
    return total, [counties[c] for c in sorted(counties)]


# --- 一行一册 ledger ----------------------------------------------------------------------------------------


@dataclass
class LedgerRow:
    institution: Institution
    county_code: str
    county: str
    cadre: Any  # User | None
    group: str
    commissioners: dict[str, str]  # role → name
    last_visit: dt.date | None
    open_hazards: int | None  # None while no module provides the figure

    @property
    def risk_class(self) -> str:
        rc = self.institution.effective_class
        return rc.code if rc else ""


def ledger_counties(user: Any, kind: str) -> list[tuple[str, str, int]]:
    """(county code, name, institutions not closed) of one sector in the user's scope: one grouped query."""

    counts = (
        Institution.objects.for_user(user)
        .filter(kind=kind)
        .exclude(status=Institution.Status.CLOSED)
        .annotate(county=Substr("region_path", 1, COUNTY_PATH_LENGTH))
        .values_list("county")
        .annotate(n=Count("pk"))
        .order_by("county")
    )
    by_code = {county_code(prefix): n for prefix, n in counts}
    names = regions.names(by_code)
    return [(code, names.get(code, code), n) for code, n in sorted(by_code.items())]


def ledger(user: Any, kind: str, county: str = "") -> list[LedgerRow]:
    """The 一行一册 ledger of one sector: every institution (not closed) in the user's scope — or in
    one county of it — with its cadre, supervision group, four commissioners, the cadre's last duty
    visit, open hazards and class. Query count is constant in the number of institutions."""

    active = DutyAssignment.objects.filter(active=True).select_related("cadre")
    scoped = Institution.objects.for_user(user).filter(kind=kind)
    if county:
        scoped = scoped.filter(region_path__contains=f"/{county}/")
    institutions = list(
        scoped.exclude(status=Institution.Status.CLOSED)
        .select_related("region", "subtype", "risk_class", "class_override")
        .prefetch_related(
            Prefetch("duty_assignments", queryset=active, to_attr="active_assignments"),
            Prefetch("commissioners", queryset=Commissioner.objects.select_related("user")),
        )
        .order_by("region_path", "name")
    )
    county_codes = {county_code(i.region_path) for i in institutions}
    names = regions.names(county_codes)
    groups = dict(
        GroupCounty.objects.filter(county__code__in=county_codes, group__active=True).values_list(
            "county__code", "group__name"
        )
    )
    hazards = institution_facts("open_hazards", [i.pk for i in institutions])
    rows = []
    for inst in institutions:
        code = county_code(inst.region_path)
        assignment = inst.active_assignments[0] if inst.active_assignments else None
        rows.append(
            LedgerRow(
                institution=inst,
                county_code=code,
                county=names.get(code, code),
                cadre=assignment.cadre if assignment else None,
                group=groups.get(code, ""),
                commissioners={c.role: c.user.display_name for c in inst.commissioners.all()},
                last_visit=assignment.last_visit_on if assignment else None,
                open_hazards=None if hazards is None else hazards.get(inst.pk, 0),
            )
        )
    return rows


# --- duty lists (岗位责任清单) -------------------------------------------------------------------------------


def posts_for(user: Any) -> Any:
    """The posts a person holds — through one of their roles (`DutyPost.role`) or by being named a
    holder — with their numbered duties prefetched; the person's duty list is the union of these lists.
    Posts are reference data (not scoped); `user` is the person whose list it is."""

    if not getattr(user, "pk", None):
        return DutyPost.objects.none()
    held = DutyPost.holders.through.objects.filter(user_id=user.pk).values("dutypost_id")
    by_role = Q(role__in=sorted(user.role_codes)) & ~Q(role="")
    return (
        DutyPost.objects.filter(by_role | Q(pk__in=held))
        .prefetch_related(Prefetch("items", queryset=DutyItem.objects.order_by("number")))
        .order_by("order", "code")
    )


def cadres_of(institution_ids: Any) -> dict[int, list[User]]:
    """The active 包保 cadre of each institution (accounts still enabled), by institution."""
    found: dict[int, list[User]] = {}
    for a in DutyAssignment.objects.filter(
        institution_id__in=set(institution_ids), active=True, cadre__is_active=True
    ).select_related("cadre"):
        found.setdefault(a.institution_id, []).append(a.cadre)
    return found
