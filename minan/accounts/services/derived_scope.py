"""Scope that follows another record.

A responsible cadre sees their institutions, a supervision group's people its counties, the assignee of
a cross inspection the institution: these entries are written by the service of that record, inside its
transaction and under its audit event, through the three functions below."""

from __future__ import annotations

from collections.abc import Iterable

from minan.core.scoping import forget
from minan.institutions.models import Institution

from ..models import User, UserScope


def grant_derived_scope(
    user: User, source: str, *, institution: Institution | None = None, granted_by: User | None = None
) -> None:
    """Give `user` one institution because of `source` (idempotent)."""
    UserScope.objects.get_or_create(
        user=user, institution=institution, source=source, defaults={"granted_by": granted_by}
    )
    forget(user)


def revoke_derived_scope(user_id: int, source: str, *, institution_id: int) -> None:
    """Remove the entry `source` gave for one institution (the user's other entries stay)."""
    UserScope.objects.filter(user_id=user_id, institution_id=institution_id, source=source).delete()


def set_derived_regions(user: User, source: str, region_ids: Iterable[int]) -> None:
    """Make the user's region entries from `source` exactly these regions."""
    wanted = set(region_ids)
    existing = {e.region_id: e.pk for e in UserScope.objects.filter(user=user, source=source)}
    UserScope.objects.filter(
        pk__in=[pk for region_id, pk in existing.items() if region_id not in wanted]
    ).delete()
    UserScope.objects.bulk_create(
        UserScope(user=user, region_id=region_id, source=source) for region_id in wanted - set(existing)
    )
    forget(user)
