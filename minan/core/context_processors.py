from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries the signed-in user may open (the layout shows only these), and the number of
    their unread notifications for the header."""
    from minan.core.navigation import menu_for

    if not request.user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": menu_for(request.user), "unread_notifications": _unread_count(request.user)}


def _unread_count(user: Any) -> Callable[[], int]:
    """The unread count as a callable the template resolves: one COUNT query, run only when a template
    shows it, and at most once per render."""
    cached: list[int] = []

    def count() -> int:
        if not cached:
            from minan.notify.models import Notification

            cached.append(Notification.objects.filter(recipient=user, read_at__isnull=True).count())
        return cached[0]

    return count
