"""Writes of the institution's public code (一院一码): rotate, revoke, restore. Rendering the code is
in `minan.institutions.codes.render`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import record, record_denial
from minan.core.errors import DomainError, NotPermitted, OutOfScope

from ..models import Institution, new_public_token

CHANGE_PERMISSION = "institutions.change_institution"
REASON_MAX = 200


def _target(actor: Any, institution: Institution, request: Any, action: str) -> None:
    """Refuse (and audit the refusal, outside any transaction) unless the actor may change it."""
    if actor is None or not actor.has_perm(CHANGE_PERMISSION):
        record_denial(f"{action}: no permission", user=actor, request=request, obj=institution)
        raise NotPermitted(_("You do not have permission to do this."))
    if not Institution.objects.for_user(actor, "change").filter(pk=institution.pk).exists():
        record_denial(f"{action}: outside the scope", user=actor, request=request, obj=institution)
        raise OutOfScope(_("The institution is outside your scope."))


def _refresh(institution: Institution) -> None:
    institution.refresh_from_db(fields=["public_token", "public_code_active", "public_token_rotated_at"])


def _token_hint(token: str) -> str:
    # The audit trail names which code was concerned without storing a working code in full.
    return f"{token[:4]}…"


def rotate_code(actor: Any, institution: Institution, request: Any = None) -> Institution:
    """Give the institution a new token: the old code stops working at once; the code is active."""
    _target(actor, institution, request, "institution.code_rotate")
    with transaction.atomic():
        before = Institution.objects.select_for_update().get(pk=institution.pk)
        token = new_public_token()
        Institution.objects.filter(pk=before.pk).update(
            public_token=token, public_code_active=True, public_token_rotated_at=timezone.now()
        )
        _refresh(institution)
        changes: dict[str, list[Any]] = {
            "public_token": [_token_hint(before.public_token), _token_hint(token)]
        }
        if not before.public_code_active:
            changes["public_code_active"] = [False, True]
        record("institution.code_rotate", user=actor, request=request, obj=institution, changes=changes)
    return institution


def revoke_code(actor: Any, institution: Institution, reason: str, request: Any = None) -> Institution:
    """Switch the code off (the page answers 404) until it is restored or rotated; a reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason for revoking the code."), field="reason")
    if len(reason) > REASON_MAX:
        raise DomainError(_("The reason is too long (at most 200 characters)."), field="reason")
    _target(actor, institution, request, "institution.code_revoke")
    with transaction.atomic():
        if not Institution.objects.filter(pk=institution.pk, public_code_active=True).update(
            public_code_active=False
        ):
            raise DomainError(_("The public code is already revoked."), code="conflict")
        _refresh(institution)
        record(
            "institution.code_revoke",
            user=actor,
            request=request,
            obj=institution,
            changes={"public_code_active": [True, False]},
            detail=reason,
        )
    return institution


def restore_code(actor: Any, institution: Institution, request: Any = None) -> Institution:
    """Switch a revoked code back on, with the same token (codes already printed work again)."""
    _target(actor, institution, request, "institution.code_restore")
    with transaction.atomic():
        if not Institution.objects.filter(pk=institution.pk, public_code_active=False).update(
            public_code_active=True
        ):
            raise DomainError(_("The public code is already active."), code="conflict")
        _refresh(institution)
        record(
            "institution.code_restore",
            user=actor,
            request=request,
            obj=institution,
            changes={"public_code_active": [False, True]},
        )
    return institution
