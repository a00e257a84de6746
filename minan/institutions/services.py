"""Writes to the institution registry (the registry issue extends this)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from minan.audit.services import diff, record, snapshot
from minan.core.errors import NotPermitted, OutOfScope
from minan.core.scoping import in_scope
from minan.regions.models import Region

from .models import Institution

FIELDS = ("name", "kind", "region_id", "uscc", "address", "beds", "status")


@transaction.atomic
def create_institution(
    actor: Any, *, name: str, kind: str, region: Region, request: Any = None, **fields: Any
) -> Institution:
    """Create an institution; `actor` None is the system (demo data, imports run by an operator)."""
    if actor is not None:
        if not actor.has_perm("institutions.add_institution"):
            raise NotPermitted(_("You do not have permission to do this."))
        if not in_scope(actor, region.region_path, kind=kind):
            raise OutOfScope(_("The region is outside your scope."), field="region")
    institution = Institution(name=name, kind=kind, region=region, region_path=region.region_path, **fields)
    institution.full_clean()
    institution.save()
    record(
        "institution.create",
        user=actor,
        request=request,
        obj=institution,
        changes=diff({}, snapshot(institution, FIELDS)),
    )
    return institution
