"""Assigning tasks: by a planner (`assign`) or automatically to the least-loaded eligible person
(`auto_assign`); the scope a task brings moves with it."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts.models import User, UserScope
from minan.core.audit.services import record
from minan.core.errors import DomainError, OutOfScope
from minan.duty.models import DutyAssignment
from minan.institutions.models import Institution
from minan.regions.paths import ancestors, county_of

from ...execution import services as execution
from ...models import Expert, Inspection, InspectionPlan, InspectionTask, Kind
from .editing import ACTIVE, _require

# Who may be given a task of each kind by automatic assignment (besides the rules of performer_problem).
CROSS_ROLES = ("county_officer", "inspector")
SECTOR_ROLES = ("county_officer", "inspector")


@transaction.atomic
def assign(actor: Any, task: InspectionTask, user: Any, *, request: Any = None) -> InspectionTask:
    """Give a task to someone (or to nobody: `user` None). The person must be active, inside the
    actor's directory, and allowed to perform the task's kind at the institution (`performer_problem`:
    e.g. a cross inspection is refused to an officer of the inspected county). The scope the task
    brings moves from the former assignee to the new one."""
    _require(actor, "inspections.change_inspectiontask")
    found = (
        InspectionTask.objects.for_user(actor, "change")
        .select_for_update(of=("self",))
        .select_related("institution", "plan")
        .filter(pk=task.pk)
        .first()
    )
    if found is None:
        raise OutOfScope(_("Task not found."))
    if found.status not in ACTIVE:
        raise DomainError(_("This task is no longer open."), code="not_allowed")
    if Inspection.objects.filter(task=found, status=Inspection.Status.DRAFT).exists():
        raise DomainError(
            _("The inspection of this task is under way; cancel it before giving the task to someone else."),
            code="not_allowed",
        )
    old = found.assignee_id
    if user is not None:
        person = User.objects.for_user(actor).select_related("region").filter(pk=user.pk).first()
        if person is None:
            raise DomainError(_("Choose a person inside your scope."), field="user")
        if not person.is_active:
            raise DomainError(_("This person's account is disabled."), field="user")
        problem = execution.performer_problem(person, found.institution, found.kind)
        if problem:
            raise DomainError(problem, field="user", code="performer")
    new = user.pk if user is not None else None
    if old == new:
        return found
    moved = InspectionTask.objects.filter(pk=found.pk, status__in=ACTIVE, assignee_id=old).update(
        assignee_id=new
    )
    if not moved:
        raise DomainError(_("The task changed meanwhile; reload and try again."), code="conflict")
    found.assignee_id = new
    if old is not None:
        execution.release(found, old)
    if user is not None:
        found.assignee = user
        execution.grant(found)
    record("inspection_task.assign", user=actor, request=request, obj=found, changes={"assignee": [old, new]},
           detail=f"{found.institution.name} {found.kind} {found.period_start}..{found.period_end}"[:500])  # fmt: skip
    found.refresh_from_db()
    return found


def _people(pks: Iterable[int]) -> dict[int, Any]:
    """Active people with their home region and roles read once (permission checks without queries)."""
    people = {
        u.pk: u
        for u in User.objects.filter(pk__in=set(pks), is_active=True)
        .select_related("region")
        .prefetch_related("role_grants")
    }
    for person in people.values():
        person._role_codes = frozenset(g.role for g in person.role_grants.all())
    return people


def _candidates(tasks: Sequence[InspectionTask], today: dt.date) -> dict[int, list[Any]]:
    """Who may take each task, read for the whole batch in a few queries."""
    by_kind: dict[str, list[InspectionTask]] = defaultdict(list)
    for task in tasks:
        by_kind[task.kind].append(task)
    found: dict[int, list[int]] = {task.pk: [] for task in tasks}
    if duty := by_kind.get(Kind.DUTY):
        cadres = dict(
            DutyAssignment.objects.filter(institution_id__in={t.institution_id for t in duty}, active=True)
            .values_list("institution_id", "cadre_id")
        )  # fmt: skip
        for task in duty:
            if task.institution_id in cadres:
                found[task.pk] = [cadres[task.institution_id]]
    if expert := by_kind.get(Kind.EXPERT):
        experts = list(
            Expert.objects.filter(active=True, user__is_active=True)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
            .values_list("user_id", flat=True)
        )
        for task in expert:
            found[task.pk] = list(experts)
    if cross := by_kind.get(Kind.CROSS):
        places = {t.plan.region_path for t in cross}
        people = list(
            User.objects.filter(is_active=True, institution__isnull=True, role_grants__role__in=CROSS_ROLES)
            .filter(_prefix_q("region_path", places))
            .values_list("pk", "region_path")
            .distinct()
        )
        for task in cross:
            county = county_of(task.region_path)
            found[task.pk] = [
                pk
                for pk, home in people
                if home.startswith(task.plan.region_path) and county_of(home) and county_of(home) != county
            ]
    sector = by_kind.get(Kind.SECTOR, []) + by_kind.get(Kind.VIDEO, [])
    if sector:
        prefixes = {p for t in sector for p in ancestors(t.region_path)}
        entries = list(
            UserScope.objects.filter(
                Q(region__region_path__in=prefixes)
                | Q(institution_id__in={t.institution_id for t in sector}),
                source__in=[UserScope.Source.GRANTED, UserScope.Source.DUTY, UserScope.Source.GROUP],
                user__is_active=True,
                user__institution__isnull=True,
                user__role_grants__role__in=SECTOR_ROLES,
            )
            .values_list("user_id", "region__region_path", "institution_id", "kinds")
            .distinct()
        )
        kinds = dict(
            Institution.objects.filter(pk__in={t.institution_id for t in sector}).values_list("pk", "kind")
        )
        for task in sector:
            holders = {
                user_id
                for user_id, path, institution_id, entry_kinds in entries
                if institution_id == task.institution_id
                or (
                    institution_id is None
                    and path
                    and task.region_path.startswith(path)
                    and (not entry_kinds or kinds.get(task.institution_id) in entry_kinds)
                )
            }
            found[task.pk] = sorted(holders)
    persons = _people({pk for pks in found.values() for pk in pks})
    return {task_pk: [persons[pk] for pk in pks if pk in persons] for task_pk, pks in found.items()}


def _prefix_q(field: str, prefixes: Iterable[str]) -> Q:
    """Rows whose `field` starts with one of the prefixes (none when there is no prefix)."""
    return functools.reduce(operator.or_, (Q(**{f"{field}__startswith": p}) for p in prefixes), Q(pk__in=[]))


def _loads(
    user_ids: Iterable[int], days: Iterable[dt.date]
) -> tuple[Counter[tuple[int, dt.date]], Counter[int]]:
    """Tasks still to do per (person, due day) and per person."""
    per_day: Counter[tuple[int, dt.date]] = Counter()
    total: Counter[int] = Counter()
    rows = (
        InspectionTask.objects.filter(assignee_id__in=set(user_ids), status__in=ACTIVE)
        .values("assignee_id", "due_on")
        .annotate(n=Count("pk"))
    )
    wanted = set(days)
    for row in rows:
        total[row["assignee_id"]] += row["n"]
        if row["due_on"] in wanted:
            per_day[(row["assignee_id"], row["due_on"])] += row["n"]
    return per_day, total


def candidates(task: InspectionTask, today: dt.date | None = None) -> list[tuple[Any, int]]:
    """The people automatic assignment could give this task to, with their tasks due that day, least
    loaded first (the assignment page shows them)."""
    today = today or timezone.localdate()
    if task.kind == Kind.SELF:
        return []
    people = _candidates([task], today)[task.pk]
    per_day, total = _loads([p.pk for p in people], [task.due_on])
    eligible = [
        p for p in people if execution.performer_problem(p, task.institution, task.kind, today) is None
    ]
    eligible.sort(key=lambda p: (per_day[(p.pk, task.due_on)], total[p.pk], p.pk))
    return [(p, per_day[(p.pk, task.due_on)]) for p in eligible]


def auto_assign(
    tasks: Iterable[InspectionTask] | QuerySet[InspectionTask], today: dt.date | None = None
) -> int:
    """Assign unassigned tasks still to do: duty → the institution's active responsible cadre; self →
    nobody; expert → an active roster expert; cross → a county officer or inspector of the plan's place
    whose home county is not the institution's; sector and video → an inspector or county officer
    holding the institution in scope. Each task goes to the least-loaded candidate on its due day, at
    most MINAN_INSPECTION_DAILY_CAP tasks a person a day (a duty check goes to the cadre regardless).
    Returns how many were assigned; the rest stay unassigned."""
    today = today or timezone.localdate()
    pks = [t.pk for t in tasks]
    rows = list(
        InspectionTask.objects.filter(pk__in=pks, status__in=ACTIVE, assignee__isnull=True)
        .exclude(kind=Kind.SELF)
        .select_related("institution", "plan")
        .order_by("due_on", "region_path", "pk")
    )
    if not rows:
        return 0
    cap = settings.INSPECTION_DAILY_CAP
    options = _candidates(rows, today)
    per_day, total = _loads({p.pk for people in options.values() for p in people}, {t.due_on for t in rows})
    chosen: dict[int, tuple[Any, list[InspectionTask]]] = {}
    for task in rows:
        people = [p for p in options[task.pk] if task.kind == Kind.DUTY or per_day[(p.pk, task.due_on)] < cap]
        people.sort(key=lambda p: (per_day[(p.pk, task.due_on)], total[p.pk], p.pk))
        person = next(
            (p for p in people if execution.performer_problem(p, task.institution, task.kind, today) is None),
            None,
        )
        if person is None:
            continue
        per_day[(person.pk, task.due_on)] += 1
        total[person.pk] += 1
        chosen.setdefault(person.pk, (person, []))[1].append(task)
    assigned = 0
    plans: Counter[int] = Counter()
    with transaction.atomic():
        for person, given in chosen.values():
            ids = [t.pk for t in given]
            # Conditional: a task someone assigned by hand meanwhile keeps that person.
            assigned += InspectionTask.objects.filter(
                pk__in=ids, status__in=ACTIVE, assignee__isnull=True
            ).update(assignee=person)
            for task in InspectionTask.objects.filter(pk__in=ids, assignee=person).select_related(
                "institution"
            ):
                task.assignee = person
                execution.grant(task)
                plans[task.plan_id] += 1
        for plan in InspectionPlan.objects.filter(pk__in=list(plans)):
            left = sum(1 for t in rows if t.plan_id == plan.pk) - plans[plan.pk]
            record("inspection_task.auto_assign", obj=plan,
                   detail=f"{plan.name}: {plans[plan.pk]} tasks assigned, {left} left unassigned"[:500])  # fmt: skip
    return assigned
