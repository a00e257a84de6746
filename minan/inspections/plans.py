"""Inspection plans and the tasks they generate.

A plan names a checklist family, an inspection kind, the institutions it covers and a cadence. The
generator makes one task per covered institution and period; a task is due on the period's last
working day, or `due_working_days` working days after the period starts (never after the period's last
working day). Cadence "class" takes each institution's risk class: its minimum number of on-site
inspections a year gives the shortest listed period that meets it (1 → yearly, 2 → half-yearly,
3–4 → quarterly, 5–12 → monthly, 13–52 → weekly); an institution without a class gets the default
class, else the floor of one inspection a year.

Rules:
- `generate()` is idempotent: tasks are inserted with `bulk_create(ignore_conflicts=True)` against the
  unique (plan, institution, period_start), so any number of runs and workers make each task once.
- An edit of a plan applies from the next period: tasks already generated keep their period and due
  date, and while an institution has a task of the plan covering today, no task of another period is
  made for it (a new cadence starts when the current period ends). For cadence "class" a stricter class
  (a shorter period) starts at once. An institution newly covered gets its task for the current period.
- Tasks of institutions the plan no longer covers (or that stopped operating) that are open or missed
  and not started are cancelled at the next generation; so are a deactivated plan's open tasks.
- Assignment moves the managed scope an assignment brings (`execution.grant` / `execution.release`).
  Automatic assignment picks, per task, the least-loaded eligible person on the task's due day under a
  daily cap (`MINAN_INSPECTION_DAILY_CAP`); a duty check always goes to the institution's responsible
  cadre (nobody else may do it), a self-inspection to nobody (the institution's staff do it). Tasks
  nobody can take stay unassigned and are listed as such; later runs try again.
- `flag_missed()` marks open tasks past their due day missed (never closed: they can still be done)
  and sends reminders once each, claimed with a conditional UPDATE of `escalation_step`: on the first
  working day after the due day to the assignee (the institution's staff for a self-inspection) and the
  responsible cadre; `MISSED_COUNTY_AFTER` working days after it also to the county officers.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts.models import User
from minan.accounts.selectors import people_over, staff_of
from minan.audit.services import diff, record, snapshot
from minan.core import calendar
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import region_within_scope
from minan.duty.selectors import cadres_of
from minan.institutions.models import Institution, RiskClass
from minan.regions.paths import ancestors, county_of

from .checklists.selectors import current_template
from .execution import services as execution
from .models import Expert, Inspection, InspectionPlan, InspectionTask, Kind

logger = logging.getLogger("minan.inspections")

Cadence = InspectionPlan.Cadence
Status = InspectionTask.Status
ACTIVE = (Status.OPEN, Status.MISSED)  # tasks still to do
HALF_YEARLY = "half_yearly"  # a period only risk classes use (2 inspections a year)
# Periods a year of each cadence, shortest last: a class needing n inspections a year gets the first
# cadence with at least n periods.
PERIODS_PER_YEAR = {Cadence.YEARLY: 1, HALF_YEARLY: 2, Cadence.QUARTERLY: 4, Cadence.MONTHLY: 12,
                    Cadence.WEEKLY: 52, Cadence.DAILY: 366}  # fmt: skip
MISSED_COUNTY_AFTER = 3  # working days after the due day when the county officers are told
MAX_DUE_WORKING_DAYS = 250
SWEEP_CHUNK = 200
PLAN_FIELDS = ("name", "template_code", "kind", "cadence", "region", "institution_kinds", "risk_classes",
               "due_working_days", "auto_assign", "starts_on", "ends_on")  # fmt: skip
# Who may be given a task of each kind by automatic assignment (besides the rules of performer_problem).
CROSS_ROLES = ("county_officer", "inspector")
SECTOR_ROLES = ("county_officer", "inspector")


# --- periods and due dates ---------------------------------------------------------------------------------------


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


# --- what a plan covers --------------------------------------------------------------------------------------------


def _kinds(plan: InspectionPlan) -> list[str]:
    if plan.institution_kinds:
        return list(plan.institution_kinds)
    template = current_template(plan.template_code)
    return list(template.institution_kinds) if template is not None else []


def targets(plan: InspectionPlan) -> QuerySet[Institution]:
    """The operating institutions the plan covers: the listed ones, or those inside its region of its
    institution kinds (default: the checklist's) and risk classes (the class set by hand wins)."""
    operating = Institution.objects.filter(status=Institution.Status.OPERATING)
    if plan.pk and plan.institutions.exists():
        return operating.filter(pk__in=plan.institutions.values("pk"))
    qs = operating.filter(region_path__startswith=plan.region.region_path)
    if kinds := _kinds(plan):
        qs = qs.filter(kind__in=kinds)
    if plan.risk_classes:
        codes = list(plan.risk_classes)
        qs = qs.filter(
            Q(class_override__code__in=codes) | Q(class_override__isnull=True, risk_class__code__in=codes)
        )
    return qs


# --- writing a plan -------------------------------------------------------------------------------------------------


def _require(actor: Any, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise NotPermitted(_("You do not have permission to do this."))


def _plan_for_change(actor: Any, plan: InspectionPlan, *, lock: bool = False) -> InspectionPlan:
    _require(actor, "inspections.change_inspectionplan")
    qs = InspectionPlan.objects.for_user(actor, "change").filter(pk=plan.pk).select_related("region")
    found = (qs.select_for_update(of=("self",)) if lock else qs).first()
    if found is None:
        raise OutOfScope(_("Plan not found."))
    return found


def _institution_ids(values: Iterable[Any]) -> list[int]:
    ids = []
    for value in values:
        pk = getattr(value, "pk", value)
        try:
            ids.append(int(pk))
        except (TypeError, ValueError):
            raise DomainError(_("Choose institutions from the list."), field="institutions") from None
    return sorted(set(ids))


def _validate(actor: Any, plan: InspectionPlan, institution_ids: list[int]) -> None:
    if not plan.name.strip():
        raise DomainError(_("Give the plan a name."), field="name")
    if len(plan.name) > 200:
        raise DomainError(_("The name is limited to 200 characters."), field="name")
    template = current_template(plan.template_code)
    if template is None:
        raise DomainError(_("Choose a checklist that has a published version."), field="template_code")
    if plan.kind not in Kind.values:
        raise DomainError(_("Choose a listed inspection kind."), field="kind")
    if template.kinds and plan.kind not in template.kinds:
        raise DomainError(_("This checklist is not meant for this kind of inspection."), field="kind")
    if plan.cadence not in Cadence.values:
        raise DomainError(_("Choose a listed cadence."), field="cadence")
    if not region_within_scope(actor, plan.region.region_path):
        raise DomainError(_("Choose a region inside your scope."), field="region")
    if set(plan.institution_kinds) - set(Institution.Kind.values):
        raise DomainError(_("Choose listed institution kinds."), field="institution_kinds")
    if template.institution_kinds and set(plan.institution_kinds) - set(template.institution_kinds):
        raise DomainError(
            _("This checklist is not meant for this kind of institution."), field="institution_kinds"
        )
    known = set(RiskClass.objects.values_list("code", flat=True))
    if set(plan.risk_classes) - known:
        raise DomainError(_("Choose listed risk classes."), field="risk_classes")
    if institution_ids:
        listed = list(
            Institution.objects.for_user(actor).filter(pk__in=institution_ids).values_list("pk", "kind")
        )
        if len(listed) != len(institution_ids):
            raise DomainError(_("Choose institutions inside your scope."), field="institutions")
        if template.institution_kinds and {k for _pk, k in listed} - set(template.institution_kinds):
            raise DomainError(
                _("This checklist is not meant for this kind of institution."), field="institutions"
            )
    if plan.due_working_days is not None and not 0 <= plan.due_working_days <= MAX_DUE_WORKING_DAYS:
        raise DomainError(
            _("Give between 0 and %(n)d working days.") % {"n": MAX_DUE_WORKING_DAYS},
            field="due_working_days",
        )
    if plan.starts_on is None:
        raise DomainError(_("Give the first day of the plan."), field="starts_on")
    if plan.ends_on is not None and plan.ends_on < plan.starts_on:
        raise DomainError(_("The plan cannot end before it starts."), field="ends_on")


@transaction.atomic
def save_plan(
    actor: Any, plan: InspectionPlan | None, *, request: Any = None, **fields: Any
) -> InspectionPlan:
    """Create a plan (`plan` None) or change one (only the given fields change). The plan belongs to
    its author's place. Refused, with nothing written, when: the checklist family has no published
    version; the kind is not one the checklist is meant for; the region or a listed institution lies
    outside the actor's scope; it would end before it starts. An edit applies from the next period."""
    unknown = set(fields) - set(PLAN_FIELDS) - {"institutions"}
    if unknown:
        raise ValueError(f"unknown plan fields: {sorted(unknown)}")
    creating = plan is None
    if creating:
        _require(actor, "inspections.add_inspectionplan")
        home = actor.region
        target = InspectionPlan(created_by=actor, region=home, due_working_days=None, auto_assign=True,
                                institution_kinds=[], risk_classes=[])  # fmt: skip
        # The plan belongs to its author's place; someone whose home lies outside their own scope
        # files it at the region it covers, so that they see it.
        target.region_path = home.region_path if region_within_scope(actor, home.region_path) else ""
        before: dict[str, Any] = {}
        before_ids: list[int] = []
    else:
        assert plan is not None
        target = _plan_for_change(actor, plan, lock=True)
        before = snapshot(target, PLAN_FIELDS)
        before_ids = sorted(target.institutions.values_list("pk", flat=True))
    for name, value in fields.items():
        if name == "institutions":
            continue
        if name == "region":
            value = value or target.region  # empty: the author's region (new) or unchanged (edit)
        elif name in {"institution_kinds", "risk_classes"}:
            value = sorted({str(v) for v in (value or [])})
        elif name in {"name", "template_code"}:
            value = str(value or "").strip()
        elif name == "auto_assign":
            value = bool(value)
        elif name == "due_working_days" and value == "":
            value = None
        setattr(target, name, value)
    ids = _institution_ids(fields["institutions"]) if "institutions" in fields else before_ids
    _validate(actor, target, ids)
    if creating and not target.region_path:
        target.region_path = target.region.region_path
    target.save()
    target.institutions.set(ids)
    changes = diff(before, snapshot(target, PLAN_FIELDS))
    if ids != before_ids:
        changes["institutions"] = [before_ids, ids]
    if creating:
        record("inspection_plan.create", user=actor, request=request, obj=target, changes=changes,
               detail=f"{target.name} {target.kind} {target.cadence} {target.template_code}"[:500])  # fmt: skip
    elif changes:
        record("inspection_plan.change", user=actor, request=request, obj=target, changes=changes,
               detail=target.name[:500])  # fmt: skip
    return target


@transaction.atomic
def deactivate(actor: Any, plan: InspectionPlan, *, request: Any = None) -> InspectionPlan:
    """Stop a plan: no more tasks are generated; its open tasks not yet started are cancelled (missed
    ones stay missed, a record that they were not done)."""
    target = _plan_for_change(actor, plan, lock=True)
    if not target.active:
        raise DomainError(_("This plan is already stopped."), code="not_allowed")
    InspectionPlan.objects.filter(pk=target.pk).update(active=False, updated_at=timezone.now())
    cancelled = _cancel(InspectionTask.objects.filter(plan=target, status=Status.OPEN))
    record("inspection_plan.deactivate", user=actor, request=request, obj=target,
           detail=f"{target.name}: {cancelled} open tasks cancelled"[:500])  # fmt: skip
    target.refresh_from_db()
    return target


def _cancel(tasks: QuerySet[InspectionTask]) -> int:
    """Cancel the given tasks that are still to do and not started; the managed scope they brought goes."""
    rows = list(tasks.filter(status__in=ACTIVE, inspection__isnull=True).values_list("pk", "assignee_id"))
    if not rows:
        return 0
    pks = [pk for pk, _user in rows]
    count = InspectionTask.objects.filter(pk__in=pks, status__in=ACTIVE, inspection__isnull=True).update(
        status=Status.CANCELLED
    )
    for task in InspectionTask.objects.filter(pk__in=pks, status=Status.CANCELLED, assignee__isnull=False):
        execution.release(task)
    return count


# --- generation -----------------------------------------------------------------------------------------------------


def _running(today: dt.date) -> QuerySet[InspectionPlan]:
    return InspectionPlan.objects.filter(active=True, starts_on__lte=today).filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today)
    )


def generate(today: dt.date | None = None, plan: InspectionPlan | None = None) -> int:
    """Make the tasks of the current period for every running plan (or one plan); returns how many
    were made. Idempotent. A plan whose due dates cannot be computed (working-day calendar of a year not
    loaded) is skipped and reported; the others go on."""
    today = today or timezone.localdate()
    plans = _running(today).select_related("region").order_by("pk")
    if plan is not None:
        plans = plans.filter(pk=plan.pk)
    made = 0
    for each in plans:
        try:
            with transaction.atomic():
                made += _generate_plan(each, today)
        except DomainError as exc:
            logger.error("inspection plan %s: tasks not generated: %s", each.pk, exc.message)
    return made


def _per_year(rows: Sequence[tuple[int, str, int | None, int | None]]) -> dict[int, int]:
    """Minimum inspections a year per institution from its effective class (default class, else 1)."""
    classes = {rc.pk: rc for rc in RiskClass.objects.all()}
    default = next((rc.min_inspections_per_year for rc in classes.values() if rc.is_default), 1)
    found = {}
    for pk, _path, risk_class, override in rows:
        chosen = classes.get(override or risk_class or 0)
        found[pk] = max(chosen.min_inspections_per_year if chosen else default, 1)
    return found


def _generate_plan(plan: InspectionPlan, today: dt.date) -> int:
    if current_template(plan.template_code) is None:
        logger.warning(
            "inspection plan %s: checklist %s has no published version", plan.pk, plan.template_code
        )
        return 0
    rows = list(targets(plan).values_list("pk", "region_path", "risk_class_id", "class_override_id"))
    covered = {pk for pk, *_rest in rows}
    cancelled = _cancel(
        InspectionTask.objects.filter(plan=plan, status__in=ACTIVE).exclude(institution_id__in=covered)
    )
    if cancelled:
        record("inspection_task.cancel", obj=plan,
               detail=f"{plan.name}: {cancelled} tasks of institutions no longer covered cancelled"[:500])  # fmt: skip
    if not rows:
        return 0
    by_class = plan.cadence == Cadence.BY_CLASS
    if by_class:
        per_year = _per_year(rows)
        wanted = {pk: periods(class_cadence(per_year[pk]), today) for pk, *_rest in rows}
    else:
        period = periods(plan.cadence, today)
        wanted = dict.fromkeys(covered, period)
    first = min(start for start, _end in wanted.values())
    last = max(end for _start, end in wanted.values())
    held: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for institution_id, start, end in InspectionTask.objects.filter(
        plan=plan, period_start__lte=last, period_end__gte=first
    ).values_list("institution_id", "period_start", "period_end"):
        held[institution_id].append((start, end))

    def blocked(institution_id: int, start: dt.date, end: dt.date) -> bool:
        # A task of the plan already covering this period (generated under the plan's earlier settings)
        # stands; for a risk class, only one at least as frequent as the class now asks for.
        for s, e in held.get(institution_id, ()):
            if s <= end and e >= start and (not by_class or (e - s) <= (end - start)):
                return True
        return False

    days = calendar.WorkingDays()
    dues: dict[tuple[dt.date, dt.date], dt.date] = {}
    new = []
    for pk, path, *_rest in rows:
        start, end = wanted[pk]
        if blocked(pk, start, end):
            continue
        if (start, end) not in dues:
            dues[(start, end)] = due_date(plan, start, end, days=days)
        new.append(InspectionTask(plan=plan, institution_id=pk, region_path=path, kind=plan.kind,
                                  period_start=start, period_end=end, due_on=dues[(start, end)]))  # fmt: skip
    made = 0
    if new:
        before = InspectionTask.objects.filter(plan=plan).count()
        InspectionTask.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        made = InspectionTask.objects.filter(plan=plan).count() - before
    if plan.auto_assign and plan.kind != Kind.SELF:
        auto_assign(
            InspectionTask.objects.filter(plan=plan, status__in=ACTIVE, assignee__isnull=True), today=today
        )
    return made


@transaction.atomic
def generate_now(actor: Any, plan: InspectionPlan, *, request: Any = None) -> int:
    """ "Generate now" for a planner: the plan's tasks of the current period, at once."""
    target = _plan_for_change(actor, plan)
    if not target.active:
        raise DomainError(_("This plan is stopped."), code="not_allowed")
    today = timezone.localdate()
    if target.starts_on > today or (target.ends_on is not None and target.ends_on < today):
        raise DomainError(_("The plan is not running today."), code="not_allowed")
    if current_template(target.template_code) is None:
        raise DomainError(_("Choose a checklist that has a published version."), field="template_code")
    made = _generate_plan(target, today)
    record("inspection_plan.generate", user=actor, request=request, obj=target,
           detail=f"{target.name}: {made} tasks made"[:500])  # fmt: skip
    return made


# --- assignment -----------------------------------------------------------------------------------------------------


@transaction.atomic
def assign(actor: Any, task: InspectionTask, user: Any, *, request: Any = None) -> InspectionTask:
    """Give a task to someone (or to nobody: `user` None). The person must be active, inside the
    actor's directory, and allowed to perform the task's kind at the institution (`performer_problem`:
    e.g. a cross inspection is refused to an officer of the inspected county). The scope the task
    brings moves from the former assignee to the new one."""
    from minan.accounts.models import User

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
    from minan.accounts.models import User

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
    from minan.accounts.models import User, UserScope
    from minan.duty.models import DutyAssignment

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
                via_inspection=False,
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
    from django.db.models import Count

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


# --- missed tasks and reminders ---------------------------------------------------------------------------------


class _Ordinals:
    """Working-day ordinals over a date range: working days between two dates is one subtraction."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        self.first = first
        self.ordinal: list[int] = []
        days = calendar.WorkingDays()
        count, day = 0, first
        while day <= last:
            count += days.is_workday(day)
            self.ordinal.append(count)
            day += dt.timedelta(days=1)

    def __getitem__(self, day: dt.date) -> int:
        return self.ordinal[(day - self.first).days]


def missed_step(ordinals: _Ordinals, due_on: dt.date, today: dt.date) -> int:
    """0: no reminder yet; 1: from the first working day after the due day; 2: from the
    MISSED_COUNTY_AFTER-th."""
    late = ordinals[today] - ordinals[due_on]
    return 2 if late >= MISSED_COUNTY_AFTER else 1 if late >= 1 else 0


def _recipients(tasks: Sequence[InspectionTask], step: int) -> dict[int, list[Any]]:
    """Who is told about each missed task at a step, read for the whole batch in a few queries."""
    assignees = User.objects.filter(is_active=True).in_bulk({t.assignee_id for t in tasks if t.assignee_id})
    staff = staff_of({t.institution_id for t in tasks if t.kind == Kind.SELF})
    cadres = cadres_of({t.institution_id for t in tasks})
    county = people_over({county_of(t.region_path) for t in tasks}, "county_officer") if step >= 2 else {}
    found: dict[int, list[Any]] = {}
    for task in tasks:
        people = list(staff.get(task.institution_id, [])) if task.kind == Kind.SELF else []
        if task.assignee_id in assignees:
            people.append(assignees[task.assignee_id])
        people += cadres.get(task.institution_id, [])
        if step >= 2:
            people += county.get(county_of(task.region_path), [])
        found[task.pk] = list({p.pk: p for p in people}.values())
    return found


def flag_missed(today: dt.date | None = None) -> dict[str, int]:
    """Mark open tasks past their due day missed, then send the reminders due today, once each.

    Safe with several workers: marking is one conditional UPDATE; each reminder step is claimed per task
    with a conditional UPDATE of `escalation_step` inside chunks locked with SKIP LOCKED, and only the
    worker whose UPDATE moved the step sends it. A sweep that did not run for a while sends only the
    step reached. Returns {"missed": tasks marked, "step1": told, "step2": told}."""
    from minan.notify.services import Message, notify_many

    today = today or timezone.localdate()
    result = {"missed": 0, "step1": 0, "step2": 0}
    result["missed"] = InspectionTask.objects.filter(status=Status.OPEN, due_on__lt=today).update(
        status=Status.MISSED
    )
    rows = list(
        InspectionTask.objects.filter(
            status=Status.MISSED, escalation_step__lt=2, due_on__lt=today
        ).values_list("pk", "due_on", "escalation_step")
    )
    if not rows:
        return result
    try:
        ordinals = _Ordinals(min(due for _pk, due, _step in rows), today)
    except DomainError as exc:  # the working-day calendar of a year is not loaded: reported, retried later
        logger.error("missed inspection reminders not sent: %s", exc.message)
        return result
    target = {pk: missed_step(ordinals, due, today) for pk, due, _step in rows}
    due = [pk for pk, _due, step in rows if target[pk] > step]
    for start in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            locked = list(
                InspectionTask.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=due[start : start + SWEEP_CHUNK], status=Status.MISSED)
                .select_related("institution", "plan")
            )
            claimed = [
                task
                for task in locked
                if InspectionTask.objects.filter(
                    pk=task.pk, status=Status.MISSED, escalation_step__lt=target[task.pk]
                ).update(escalation_step=target[task.pk])
            ]
            messages: list[Message] = []
            for step in (1, 2):
                batch = [t for t in claimed if target[t.pk] == step]
                if not batch:
                    continue
                people = _recipients(batch, step)
                for task in batch:
                    messages.append(Message(
                        people[task.pk], "inspections.missed",
                        {"institution": task.institution.name, "plan": task.plan.name,
                         "kind": task.kind, "due": task.due_on.isoformat(),
                         "period": f"{task.period_start.isoformat()}–{task.period_end.isoformat()}", "step": step},
                        link=f"/inspections/tasks/{task.pk}/", place=task.region_path,
                    ))  # fmt: skip
                result[f"step{step}"] += len(batch)
            notify_many(messages)
    return result
