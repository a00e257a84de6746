from collections.abc import Callable
from typing import Any

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries the signed-in user may open (the layout shows only these), and the number of
    their unread notifications for the header."""
    from minan.core.navigation import menu_for

    # No user when a request fails before the authentication middleware (a foreign Host header answers
    # the 400 page from there).
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": menu_for(user), "unread_notifications": _unread_count(user)}


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
