"""Scoped reads of the 包保 network."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from minan.accounts.models import User
from minan.institutions.models import Institution

from .models import DutyAssignment


def unassigned(user: Any) -> Any:
    """Operating institutions in scope with no active cadre — or whose cadre's account is disabled
    (they count as unassigned the same day)."""
    covered = DutyAssignment.objects.filter(institution=OuterRef("pk"), active=True, cadre__is_active=True)
    return (
        Institution.objects.for_user(user)
        .filter(status=Institution.Status.OPERATING)
        .annotate(covered=Exists(covered))
        .filter(covered=False)
    )


def cadre_loads(user: Any) -> Any:
    """Cadres in the user's scope with their number of active assignments; `overloaded` above the limit."""
    return (
        User.objects.for_user(user)
        .filter(role_grants__role="cadre")
        .annotate(load=Count("duty_assignments", filter=Q(duty_assignments__active=True)))
        .order_by("-load", "username")
    )


def max_load() -> int:
    return int(settings.CADRE_MAX_LOAD)


def coverage_by_county(user: Any) -> list[tuple[str, str, int, int, float]]:
    """(county code, name, operating institutions, with an active cadre, percent) inside the scope."""
    from minan.regions.models import Region

    covered = DutyAssignment.objects.filter(institution=OuterRef("pk"), active=True, cadre__is_active=True)
    rows = (
        Institution.objects.for_user(user)
        .filter(status=Institution.Status.OPERATING)
        .annotate(covered=Exists(covered))
        .values_list("region_path", "covered")
    )
    counts: dict[str, list[int]] = {}
    for path, is_covered in rows:
        parts = path.strip("/").split("/")
        county = parts[2] if len(parts) > 2 else parts[-1]
        entry = counts.setdefault(county, [0, 0])
        entry[0] += 1
        entry[1] += int(bool(is_covered))
    names = dict(Region.objects.filter(code__in=counts).values_list("code", "name"))
    return [
        (code, names.get(code, code), n, ok, round(100 * ok / n, 1))
        for code, (n, ok) in sorted(counts.items())
    ]
