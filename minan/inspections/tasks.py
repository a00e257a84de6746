"""Periodic inspection-plan work: thin calls into `inspections.plans.services`."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .plans import services as plans


@db_periodic_task(crontab(hour="0", minute="30"))
def generate_tasks() -> int:
    """Daily at 00:30: the tasks of the current period of every running plan (idempotent)."""
    return plans.generate()


@db_periodic_task(crontab(minute="20"))
def flag_missed() -> dict[str, int]:
    """Hourly: open tasks past their due day become missed; reminders on the first working day after
    the due day (assignee or the institution's staff, and the cadre) and 3 working days later (+ county)."""
    return plans.flag_missed()
