"""API token authentication: `Authorization: Token <secret>` against MinAn's own hashed tokens.

A token is refused when it is revoked or expired, and when its account may not sign in any more:
disabled, past its expiry date, locked out after failed attempts, or when the token was issued
before an administrator reset the password or disabled the account (`User.tokens_not_before`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from . import services
from .models import ApiToken, User, token_digest

KEYWORD = "Token"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def account_locked(user: User) -> bool:
    """Whether the account is locked out by failed sign-ins (django-axes' count for the username)."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failures = (
        AccessAttempt.objects.filter(username=user.username, attempt_time__gte=since).aggregate(
            n=Sum("failures_since_start")
        )["n"]
        or 0
    )
    return failures >= settings.AXES_FAILURE_LIMIT


def token_refusal(token: ApiToken, now: Any = None) -> str | None:
    """Why this token may not be used now, or None when it may."""
    now = now or timezone.now()
    user = token.user
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    if not user.is_active:
        return "account_disabled"
    if user.is_expired(now):
        return "account_expired"
    if user.tokens_not_before is not None and token.created_at < user.tokens_not_before:
        return "revoked"
    if account_locked(user):
        return "account_locked"
    return None


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            secret = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token header.") from exc
        token = ApiToken.objects.select_related("user").filter(digest=token_digest(secret)).first()
        # One message for every refusal: a caller learns nothing about other people's tokens.
        if token is None or token_refusal(token) is not None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        services.note_token_use(token, timezone.now(), resolution=LAST_USED_RESOLUTION)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token header."""

    target_class = "minan.accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=KEYWORD)
