"""The events modules notify about. Each has a label, a default urgency and a template
`notify/events/<code>.txt` (first line: subject; the rest: body), rendered in the recipient's language.

Modules register their own events with `register()` in their AppConfig.ready() or at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Urgency


@dataclass(frozen=True)
class Event:
    code: str
    label: str | Promise
    urgency: str


EVENTS: dict[str, Event] = {}


def register(code: str, label: str | Promise, urgency: str = Urgency.NORMAL) -> Event:
    event = Event(code, label, urgency)
    EVENTS[code] = event
    return event


def choices() -> list[tuple[str, str]]:
    return [(e.code, str(e.label)) for e in sorted(EVENTS.values(), key=lambda e: e.code)]


register("notify.test", _("Test message"), Urgency.NORMAL)
register("notify.delivery_failed", _("A message could not be delivered"), Urgency.NORMAL)
register("institutions.insurance_expired", _("Liability insurance expired"), Urgency.NORMAL)
register("duty.visits_overdue", _("Duty visits overdue"), Urgency.LOW)
register("hazards.reminder", _("Hazard deadline approaching"), Urgency.NORMAL)
register("hazards.overdue", _("Hazard overdue"), Urgency.NORMAL)
register("inspections.missed", _("Inspection task missed"), Urgency.NORMAL)
register("firewatch.alarm", _("Fire-monitoring alarm"), Urgency.NORMAL)
register("firewatch.alarms", _("Several fire-monitoring alarms of one institution"), Urgency.NORMAL)
