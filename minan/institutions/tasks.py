"""Reclassification jobs: nightly, and after each change of the class scheme."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import classification
from .excel import run_import_job  # noqa: F401  (registers the import task with the worker)
from .models import Institution


@db_periodic_task(crontab(hour="1", minute="30"))
def reclassify_all() -> int:
    """Nightly: facts that change with time (building age, insurance expiry, 90-day windows)."""
    return classification.reclassify(Institution.objects.all())


@db_task()
def reclassify_all_async(actor_id: int | None = None) -> int:
    """After a scheme change: every institution, attributed to the administrator who changed it."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return classification.reclassify(Institution.objects.all(), actor=actor)


@db_periodic_task(crontab(hour="8", minute="0"))
def remind_expired_policies() -> int:
    """Daily at 08:00: institutions whose newest liability insurance policy has expired."""
    from . import services

    return services.remind_expired_policies()
