"""Reads of the division tree that other apps share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from .models import Region


def names(codes: Iterable[str], *, counties_of: Any = None) -> dict[str, str]:
    """Region names by code, for codes already read from scoped rows (a name is not scoped data).

    With `counties_of=user`, every county in that user's scope is added, so that a table by county
    lists the counties with nothing to count as well."""
    q = Q(code__in=list(codes))
    if counties_of is not None:
        q |= Q(pk__in=Region.objects.for_user(counties_of).filter(level=Region.Level.COUNTY).values("pk"))
    return dict(Region.objects.filter(q).values_list("code", "name"))
