"""Periodic hazard work: thin calls into `hazards.services`."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services


@db_periodic_task(crontab(minute="15"))
def escalate_due() -> dict[int, int]:
    """Hourly: deadline reminders (50 %, 75 %) and escalations (due day, +3, +7 working days)."""
    return services.escalate_due()
