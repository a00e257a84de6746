"""The person's own inbox."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from minan.accounts.models import User

from ..models import Notification


def mark_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when `ids` is None). Personal inbox
    state: not written to the audit trail."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
