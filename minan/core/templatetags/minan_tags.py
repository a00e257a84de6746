from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`{{ d|get_item:k }}`: a dictionary look-up with a variable key."""
    return mapping.get(key) if hasattr(mapping, "get") else None
