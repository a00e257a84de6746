from typing import Any

from django.http import HttpRequest

from minan.core.navigation import menu_for


def shell(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries the signed-in user may open (the layout shows only these)."""
    # No user when a request fails before the authentication middleware (a foreign Host header answers
    # the 400 page from there).
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {"nav_items": menu_for(user)}
