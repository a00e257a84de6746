"""Huey tasks of the notification engine: thin calls into `notify.services`."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import services


@db_task()
def deliver_task(delivery_id: int) -> str:
    return services.deliver(delivery_id)


@db_periodic_task(crontab(minute="*"))
def sweep_task() -> int:
    """Every minute: due and deferred deliveries, stale claims (a worker restart), ripe digests."""
    services.run_digests()
    return services.sweep()
