from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .anchors import write_anchor
from .services import archive_before


@db_periodic_task(crontab(hour="3", minute="20"))
def archive_old_audit_rows() -> None:
    archive_before(timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS))


@db_periodic_task(crontab(minute=f"*/{settings.AUDIT_ANCHOR_MINUTES}"))
def anchor_audit_head() -> None:
    # Rows deleted after the last anchor cannot be detected: anchor often (a line only when it moved).
    write_anchor()
