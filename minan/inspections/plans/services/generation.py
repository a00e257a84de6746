"""Generating a plan's tasks for the current period: idempotent, daily or on a planner's "generate now"."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import calendar
from minan.core.audit.services import record
from minan.core.errors import DomainError
from minan.institutions.models import RiskClass

from ...checklists.selectors import current_template
from ...models import InspectionPlan, InspectionTask, Kind
from .assignment import auto_assign
from .editing import ACTIVE, _cancel, _plan_for_change, targets
from .periods import class_cadence, due_date, periods

logger = logging.getLogger("minan.inspections")

Cadence = InspectionPlan.Cadence


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
