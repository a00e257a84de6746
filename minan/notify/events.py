"""The events modules notify about. Each has a label, a default urgency and a template
`notify/events/<code>.txt` (first line: subject; the rest: body), rendered in the recipient's language.

Each module registers its own events with `register()` in its AppConfig.ready(); notify registers
its own two below.
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
