"""Huey tasks of the notification engine: the periodic sweep here; `deliver_task` is defined in
`services.delivery`, which queues it."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services
from .services.delivery import deliver_task  # noqa: F401  (defined beside `deliver`, which queues its retries)


@db_periodic_task(crontab(minute="*"))
def sweep_task() -> int:
    """Every minute: due and deferred deliveries, stale claims (a worker restart), ripe digests."""
    services.run_digests()
    return services.sweep()
