"""Reads for core's own pages."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from minan.core import calendar


def calendar_warning(user: Any) -> str | None:
    """A warning for calendar editors when next year's working days are not loaded."""
    if not user.has_perm("core.view_calendaroverride"):
        return None
    return calendar.missing_year_warning(timezone.localdate())
