"""Periodic fire-monitoring work for the Huey worker: thin calls into the services.

The ingest process runs the offline sweep and the escalation sweep every few seconds as well; both are
claim-based, so running them in two places never sends or flips anything twice. Huey's copy keeps them
going when no ingest process runs (HTTP push only)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .alarms import services as alarm_services
from .ingest import services


@db_periodic_task(crontab(minute="*"))
def sweep_offline() -> int:
    """Every minute: devices silent for longer than heartbeat period + grace go offline."""
    return services.sweep_offline()


@db_periodic_task(crontab(minute="*"))
def escalate_alarms() -> int:
    """Every minute: the next step of every unacknowledged alarm that has fallen due."""
    return alarm_services.escalate_due()


@db_periodic_task(crontab(minute="*/10"))
def fault_hazards() -> int:
    """Every 10 minutes: fire-system faults left uncleared for MINAN_FIRE_FAULT_HAZARD_HOURS become hazards."""
    return alarm_services.fault_hazards()


@db_periodic_task(crontab(minute="*"))
def unanswered_duty_checks() -> int:
    """Every minute: duty checks (查岗) left unanswered past their window become findings."""
    return alarm_services.unanswered_duty_checks()
