"""Scoped reads for the home page."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.utils import timezone

from minan.institutions.models import Institution
from minan.institutions.selectors import counts_by_county


def home_figures(user: Any) -> dict[str, Any]:
    from minan.accounts.models import User
    from minan.regions.models import Region

    institutions = Institution.objects.for_user(user)
    by_kind = dict(institutions.values_list("kind").annotate(n=Count("id")).order_by())
    return {
        "institutions": sum(by_kind.values()),
        "by_kind": [(label, by_kind.get(value, 0)) for value, label in Institution.Kind.choices],
        "operating": institutions.filter(status=Institution.Status.OPERATING).count(),
        "counties": Region.objects.for_user(user).filter(level=Region.Level.COUNTY).count(),
        "users": User.objects.for_user(user).filter(is_active=True).count(),
        "by_county": counts_by_county(user),
        "kinds": Institution.Kind.choices,
        "can_see_institutions": user.has_perm("institutions.view_institution"),
        "can_see_users": user.has_perm("accounts.view_user"),
    }


def calendar_warning(user: Any) -> str | None:
    """A warning for calendar editors when next year's working days are not loaded."""
    if not user.has_perm("core.view_calendaroverride"):
        return None
    from minan.core import calendar

    return calendar.missing_year_warning(timezone.localdate())
