"""Editing the registry's CONFIGURABLE lists (subtypes per kind, ownership models). Entries in use are
deactivated, never deleted, so records keep what they were filed under."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted

from ..models import Institution, Ownership, Subtype


def _require(actor: Any, perm: str) -> None:
    if not actor.has_perm(perm):
        raise NotPermitted(_("You do not have permission to do this."))


@transaction.atomic
def save_subtype(
    actor: Any, *, kind: str, code: str, name: str, order: int = 0, active: bool = True, request: Any = None
) -> Subtype:
    _require(actor, "institutions.change_subtype")
    if kind not in Institution.Kind.values:
        raise DomainError(_("Unknown kind."), field="kind")
    entry = Subtype.objects.filter(code=code).first()
    if entry is not None and entry.kind != kind and Institution.objects.filter(subtype=entry).exists():
        raise DomainError(_("The subtype is in use; its kind cannot change."), field="kind")
    before = snapshot(entry, ("kind", "name", "order", "active")) if entry else {}
    entry = entry or Subtype(code=code)
    entry.kind, entry.name, entry.order, entry.active = kind, name.strip(), order, active
    if not entry.name:
        raise DomainError(_("Enter a name."), field="name")
    entry.save()
    record("subtype.change", user=actor, request=request, obj=entry,
           changes=diff(before, snapshot(entry, ("kind", "name", "order", "active"))))  # fmt: skip
    return entry


@transaction.atomic
def save_ownership(
    actor: Any, *, code: str, name: str, order: int = 0, active: bool = True, request: Any = None
) -> Ownership:
    _require(actor, "institutions.change_ownership")
    entry = Ownership.objects.filter(code=code).first()
    before = snapshot(entry, ("name", "order", "active")) if entry else {}
    entry = entry or Ownership(code=code)
    entry.name, entry.order, entry.active = name.strip(), order, active
    if not entry.name:
        raise DomainError(_("Enter a name."), field="name")
    entry.save()
    record("ownership.change", user=actor, request=request, obj=entry,
           changes=diff(before, snapshot(entry, ("name", "order", "active"))))  # fmt: skip
    return entry
