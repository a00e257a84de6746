"""Folding the public-code scan counters into daily rows (see services.py)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from . import services


@db_periodic_task(crontab(minute="*/5"))
def flush_scans() -> int:
    """Every five minutes: the closed buckets' scan counters into ScanDaily (idempotent, claim-based)."""
    return services.flush()
