"""Dormant and expired accounts, login lockouts, and what an operator provisions or resets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from minan.core.audit.services import record

from ..models import User
from .managing import _require, require_manageable
from .tokens import _end_tokens


@transaction.atomic
def disable_dormant_accounts(now: Any = None) -> int:
    """Disable accounts past their expiry date or unused for ACCOUNT_DORMANT_DAYS. Idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ACCOUNT_DORMANT_DAYS)
    dormant = Q(last_login__lt=cutoff) | Q(last_login__isnull=True, date_joined__lt=cutoff)
    count = 0
    for user in User.objects.filter(is_active=True).filter(Q(expires_at__lte=now) | dormant):
        reason = "expired" if user.is_expired(now) else "dormant"
        # Conditional update: a second sweep running at once disables (and audits) nothing twice.
        if User.objects.filter(pk=user.pk, is_active=True).update(is_active=False, disabled_reason=reason):
            record(
                "user.disable",
                obj=user,
                changes={"is_active": [True, False]},
                detail=reason,
                username="system",
            )
            _end_tokens(user, actor=None, reason=reason)
            count += 1
    return count


def make_unusable_hash() -> str:
    return make_password(None)


@transaction.atomic
def provision_totp(actor: User | None, user: User, key_hex: str, *, request: Any = None) -> TOTPDevice:
    """Install a known TOTP key (demo accounts; an operator provisioning a hardware token)."""
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="provisioned", confirmed=True, key=key_hex)
    record("totp.provision", user=actor, request=request, obj=user)
    return device


def _require_unlock(actor: User | None, target: User) -> None:
    if actor is None:
        return
    _require(actor, "accounts.unlock_user")
    require_manageable(actor, target)


def clear_login_failures(username: str, ip: str) -> None:
    """A successful login clears only this account's failures from this address (AXES_RESET_ON_SUCCESS
    is off), so password spraying across accounts from one address still locks it."""
    AccessAttempt.objects.filter(username=username, ip_address=ip).delete()


@transaction.atomic
def unlock_user(actor: User | None, target: User, *, request: Any = None) -> None:
    """Lift a login lockout of this account (the lock on a client address expires by itself)."""
    _require_unlock(actor, target)
    reset(username=target.username)
    record("user.unlock", user=actor, request=request, obj=target, username="" if actor else "system")


@transaction.atomic
def reset_totp(actor: User | None, target: User, *, request: Any = None) -> None:
    """Remove the user's authenticator and recovery codes; they enrol again at the next login."""
    _require_unlock(actor, target)
    TOTPDevice.objects.filter(user=target).delete()
    StaticDevice.objects.filter(user=target).delete()
    record("totp.reset", user=actor, request=request, obj=target, username="" if actor else "system")
