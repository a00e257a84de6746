"""Reclassification jobs (nightly, and after each change of the class scheme), the insurance expiry
reminder, and the import of large files; the worker finds them all through this module."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services
from .classification.services import reclassify, reclassify_all_async  # noqa: F401  (registers the task)
from .imports.services import run_import_job  # noqa: F401  (registers the import task with the worker)
from .models import Institution


@db_periodic_task(crontab(hour="1", minute="30"))
def reclassify_all() -> int:
    """Nightly: facts that change with time (building age, insurance expiry, 90-day windows)."""
    return reclassify(Institution.objects.all())


@db_periodic_task(crontab(hour="8", minute="0"))
def remind_expired_policies() -> int:
    """Daily at 08:00: institutions whose newest liability insurance policy has expired."""
    return services.remind_expired_policies()
