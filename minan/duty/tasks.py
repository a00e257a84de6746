"""Periodic 包保 reminders (overdue visits, expired liability insurance): thin calls into `duty.services`."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services


@db_periodic_task(crontab(day_of_week="1", hour="8", minute="30"))
def remind_overdue_visits() -> int:
    """Mondays 08:30 (周调度): each cadre with overdue duty visits gets one low-urgency reminder."""
    return services.remind_overdue_visits()


@db_periodic_task(crontab(hour="8", minute="0"))
def remind_expired_policies() -> int:
    """Daily at 08:00: institutions whose newest liability insurance policy has expired."""
    return services.remind_expired_policies()
