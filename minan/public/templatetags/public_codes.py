"""`{% public_code_url institution as url %}`: the absolute URL an institution's QR code encodes."""

from __future__ import annotations

from typing import Any

from django import template

from minan.institutions.codes.render import public_url
from minan.regions import paths

register = template.Library()


@register.simple_tag(takes_context=True)
def public_code_url(context: Any, institution: Any) -> str:
    request = context.get("request")
    return public_url(request, institution) if request is not None else ""


@register.simple_tag
def county_code(institution: Any) -> str:
    """The county-level code of an institution (third segment of its region path), or ""."""
    return paths.county_code(institution.region_path) if paths.county_of(institution.region_path) else ""
