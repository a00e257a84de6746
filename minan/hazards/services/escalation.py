"""Deadline reminders and escalation: the hourly sweep (`escalate_due`) that tells the institution, its
cadre, then the county and the city as a hazard's deadline nears and passes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from minan.accounts.models import User
from minan.accounts.selectors import people_over, staff_of
from minan.core import calendar
from minan.hazards.models import Hazard, HazardEvent
from minan.notify.services import Message, notify_many
from minan.regions import paths

# step: (event, who is told). Steps 4 and 5 come MINAN_HAZARD_ESCALATE_AFTER working days after the due day.
ESCALATION_STEPS = {
    1: ("hazards.reminder", ("owner",)),  # 50 % of the working days elapsed
    2: ("hazards.reminder", ("owner", "cadre")),  # 75 %
    3: ("hazards.overdue", ("owner", "cadre")),  # the due day: flagged overdue
    4: ("hazards.overdue", ("owner", "cadre", "county")),  # due + 3 working days
    5: ("hazards.overdue", ("owner", "cadre", "county", "city")),  # due + 7 working days
}


class WorkingDayIndex:
    """Working-day ordinals over a date range, so elapsed working days are one subtraction."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        self.first = first
        self.ordinal: list[int] = []
        count = 0
        day = first
        days = calendar.WorkingDays()
        while day <= last:
            if days.is_workday(day):
                count += 1
            self.ordinal.append(count)
            day += dt.timedelta(days=1)

    def __getitem__(self, day: dt.date) -> int:
        return self.ordinal[(day - self.first).days]


def escalation_step(
    index: WorkingDayIndex, assigned_on: dt.date, deadline: dt.date, today: dt.date, paused: int = 0
) -> int:
    """The step a hazard has reached today (0 = none yet). `paused`: working days of ended pauses,
    which count neither as elapsed nor as given (the deadline already moved by them)."""
    first, second = settings.HAZARD_ESCALATE_AFTER
    if today > deadline:
        late = index[today] - index[deadline]
        return 5 if late >= second else 4 if late >= first else 3
    if today == deadline:
        return 3
    total = max(index[deadline] - index[assigned_on] - paused, 1)
    elapsed = index[today] - index[assigned_on] - paused
    return 2 if elapsed * 4 >= total * 3 else 1 if elapsed * 2 >= total else 0


def _people(hazards: list[Hazard], step: int) -> dict[int, list[Any]]:
    """Who is told at a step, per hazard: read for a whole batch in a few queries."""
    who = ESCALATION_STEPS[step][1]
    owners = staff_of({h.institution_id for h in hazards}) if "owner" in who else {}
    cadre_ids = {h.cadre_id for h in hazards if h.cadre_id} if "cadre" in who else set()
    cadres = User.objects.filter(is_active=True).in_bulk(cadre_ids)
    places: dict[str, list[Any]] = {}
    for level, role, depth in (("county", "county_officer", 3), ("city", "city_safety_office", 2)):
        if level in who:
            places.update(people_over({paths.ancestor(h.region_path, depth) for h in hazards}, role))
    found: dict[int, list[Any]] = {}
    for h in hazards:
        people = list(owners.get(h.institution_id, []))
        if h.cadre_id in cadres:
            people.append(cadres[h.cadre_id])
        for level, depth in (("county", 3), ("city", 2)):
            if level in who:
                people += places.get(paths.ancestor(h.region_path, depth), [])
        found[h.pk] = people
    return found


SWEEP_CHUNK = 200


def escalate_due(today: dt.date | None = None) -> dict[int, int]:
    """Send each open hazard's deadline reminders and escalations that are due today, once each.

    Idempotent and safe with several workers: due hazards are locked in chunks (`SELECT … FOR UPDATE
    SKIP LOCKED`), their step is read again under the lock, and only steps still to send are moved
    forward and sent in that chunk's transaction. If the sweep was not run for a while, only the step
    reached is sent. Overdue hazards stay open (never closed by expiry). Returns {step: hazards told}."""
    today = today or timezone.localdate()
    rows = list(
        Hazard.objects.filter(
            status__in=[Hazard.Status.ASSIGNED, Hazard.Status.RECTIFYING, Hazard.Status.REJECTED,
                        Hazard.Status.SUBMITTED],
            deadline__isnull=False, assigned_on__isnull=False, escalation_step__lt=max(ESCALATION_STEPS),
            paused_since__isnull=True,
        ).values_list("pk", "assigned_on", "deadline", "escalation_step", "paused_days")
    )  # fmt: skip
    if not rows:
        return {}
    index = WorkingDayIndex(min(r[1] for r in rows), max(today, max(r[2] for r in rows)))
    target = {pk: escalation_step(index, a, d, today, p) for pk, a, d, _step, p in rows}
    due = [pk for pk, _a, _d, step, _p in rows if target[pk] > step]
    sent: dict[int, int] = {}
    for start in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            locked = list(
                Hazard.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=due[start : start + SWEEP_CHUNK])
                .select_related("institution")
            )
            # Another worker may have sent it, or the clock was paused since the first read.
            fresh = [h for h in locked if target[h.pk] > h.escalation_step and h.paused_since is None]
            by_step: dict[int, list[Hazard]] = {}
            for hazard in fresh:
                by_step.setdefault(target[hazard.pk], []).append(hazard)
            messages: list[Message] = []
            for step, hazards in by_step.items():
                Hazard.objects.filter(pk__in=[h.pk for h in hazards]).update(escalation_step=step)
                people = _people(hazards, step)
                event = ESCALATION_STEPS[step][0]
                for hazard in hazards:
                    major = hazard.level == Hazard.Level.MAJOR
                    messages.append(Message(
                        people[hazard.pk], event,
                        {"hazard": f"#{hazard.pk}", "institution": hazard.institution.name,
                         "description": hazard.description[:100],
                         "deadline": hazard.deadline.isoformat() if hazard.deadline else "", "step": step,
                         "major": major},
                        "urgent" if step >= 3 and major else None, link=f"/hazards/{hazard.pk}/",
                        place=hazard.region_path,
                    ))  # fmt: skip
                sent[step] = sent.get(step, 0) + len(hazards)
            HazardEvent.objects.bulk_create(
                HazardEvent(
                    hazard=h,
                    action=f"escalation{target[h.pk]}",
                    from_status=h.status,
                    to_status=h.status,
                    data={"step": target[h.pk]},
                )  # fmt: skip
                for h in fresh
            )
            notify_many(messages)
    return sent
