"""Reads about people that several apps share: who is told about a place or an institution."""

from __future__ import annotations

from collections.abc import Iterable

from .models import User, UserScope


def people_over(places: Iterable[str], role: str) -> dict[str, list[User]]:
    """Active holders of `role` whose scope is one of these region subtrees, by region path.

    Only region-wide scope counts (a user scoped to one institution is not "over" its county)."""
    wanted = set(places) - {""}
    if not wanted:
        return {}
    users = User.objects.filter(is_active=True)
    pairs = list(
        UserScope.objects.filter(
            region__region_path__in=wanted,
            institution__isnull=True,
            user__in=users.filter(role_grants__role=role),
        ).values_list("region__region_path", "user_id")
    )
    holders = users.in_bulk({user_id for _path, user_id in pairs})
    found: dict[str, list[User]] = {}
    for path, user_id in pairs:
        found.setdefault(path, []).append(holders[user_id])
    return found


def staff_of(institution_ids: Iterable[int]) -> dict[int, list[User]]:
    """Active institution staff accounts, by institution."""
    found: dict[int, list[User]] = {}
    for user in User.objects.filter(
        is_active=True, institution_id__in=set(institution_ids), role_grants__role="institution_staff"
    ):
        found.setdefault(user.institution_id, []).append(user)
    return found
