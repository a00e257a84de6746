"""API tokens: issued to the signed-in user, only their digest kept; revoked singly or all at once."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope

from ..models import ApiToken, User, token_digest
from .managing import require_manageable


@transaction.atomic
def issue_token(user: User, *, name: str = "", request: Any = None) -> tuple[ApiToken, str]:
    """A new token for the signed-in user; the secret is returned once and only its digest is kept."""
    if not user.is_active or user.is_expired():
        raise NotPermitted(_("This account cannot sign in."), code="account_disabled")
    secret = "mna_" + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:50],
        digest=token_digest(secret),
        prefix=secret[:12],
        created_at=now,
        expires_at=now + timedelta(days=settings.API_TOKEN_DAYS),
    )
    record(
        "token.issue",
        user=user,
        request=request,
        obj=user,
        detail=f"{token.pk} {token.prefix} {token.name}".strip(),
    )
    live = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
    surplus = list(
        live.order_by("-created_at", "-id").values_list("pk", flat=True)[settings.API_TOKEN_MAX_PER_USER :]
    )
    _revoke_many(
        surplus, user, actor=user, reason=f"more than {settings.API_TOKEN_MAX_PER_USER} live", request=request
    )
    return token, secret


def note_token_use(token: ApiToken, now: Any, *, resolution: timedelta) -> None:
    """Keep when a token was last used, written at most once per `resolution` (not on every request)."""
    if token.last_used_at is None or token.last_used_at < now - resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def visible_tokens(actor: User) -> Any:
    """Tokens the actor may list: their own, and with accounts.view_apitoken those of users in scope."""
    own = Q(user=actor)
    if actor.has_perm("accounts.view_apitoken"):
        own |= Q(user__in=User.objects.for_user(actor, "view"))
    return ApiToken.objects.filter(own).select_related("user", "revoked_by")


@transaction.atomic
def revoke_token(actor: User, token: ApiToken, *, request: Any = None) -> ApiToken:
    """The owner revokes their own token; a security administrator one of a user they may manage."""
    if token.user_id != actor.pk:
        if not actor.has_perm("accounts.delete_apitoken"):
            raise OutOfScope(_("Token not found."))
        require_manageable(actor, token.user)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise DomainError(_("The token is already revoked."), code="revoked")
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    record(
        "token.revoke",
        user=actor,
        request=request,
        obj=token.user,
        detail=f"{token.pk} {token.prefix}",
    )
    return token


def _end_tokens(target: User, *, actor: User | None, reason: str, request: Any = None) -> None:
    """No token issued so far works any more (account disabled, password reset by an administrator)."""
    now = timezone.now()
    User.objects.filter(pk=target.pk).update(tokens_not_before=now)
    target.tokens_not_before = now
    live = ApiToken.objects.filter(user=target, revoked_at__isnull=True)
    _revoke_many(list(live.values_list("pk", flat=True)), target, actor=actor, reason=reason, request=request)


def _revoke_many(
    ids: list[int], owner: User, *, actor: User | None, reason: str, request: Any = None
) -> None:
    """Revoke these tokens of one owner at once, with one audit event saying how many and why."""
    if not ids:
        return
    ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_by=actor)
    record(
        "token.revoke",
        user=actor,
        request=request,
        obj=owner,
        detail=f"{len(ids)} token(s): {reason}",
        username="" if actor else "system",
    )
