"""Missed tasks and their reminders: flagged hourly, each reminder step sent once."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from minan.accounts.models import User
from minan.accounts.selectors import people_over, staff_of
from minan.core import calendar
from minan.core.errors import DomainError
from minan.duty.selectors import cadres_of
from minan.notify.services import Message, notify_many
from minan.regions.paths import county_of

from ...models import InspectionTask, Kind

logger = logging.getLogger("minan.inspections")

Status = InspectionTask.Status
MISSED_COUNTY_AFTER = 3  # working days after the due day when the county officers are told
SWEEP_CHUNK = 200


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
