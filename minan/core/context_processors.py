from typing import Any

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries the signed-in user may open (the layout shows only these)."""
    from minan.core.navigation import menu_for

    return {"nav_items": menu_for(request.user) if request.user.is_authenticated else []}
