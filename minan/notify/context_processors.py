"""The header's unread-notification count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from .models import Notification


def unread(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": _unread_count(user)}


def _unread_count(user: Any) -> Callable[[], int]:
    """The unread count as a callable the template resolves: one COUNT query, run only when a template
    shows it, and at most once per render."""
    cached: list[int] = []

    def count() -> int:
        if not cached:
            cached.append(Notification.objects.filter(recipient=user, read_at__isnull=True).count())
        return cached[0]

    return count
