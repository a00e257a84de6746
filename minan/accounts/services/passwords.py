"""Passwords: validation, history, a user's own change and an administrator's reset."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import DomainError, OutOfScope

from ..models import PasswordHistory, User
from .managing import _require, require_manageable
from .tokens import _end_tokens


def _validate_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), code="weak_password", field="password") from exc


def _store_password(user: User, password: str) -> None:
    user.set_password(password)
    user.password_changed_at = timezone.now()
    PasswordHistory.objects.create(user=user, password=user.password)
    keep = settings.PASSWORD_HISTORY
    old = list(user.password_history.values_list("pk", flat=True)[keep:])
    if old:
        PasswordHistory.objects.filter(pk__in=old).delete()


@transaction.atomic
def change_password(user: User, old_password: str | None, new_password: str, *, request: Any = None) -> None:
    if old_password is not None and not user.check_password(old_password):
        record(
            "password.change",
            user=user,
            request=request,
            obj=user,
            result="failure",
            detail="wrong old password",
        )
        raise DomainError(_("The current password is wrong."), field="old_password")
    _validate_password(new_password, user)
    _store_password(user, new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record("password.change", user=user, request=request, obj=user)


@transaction.atomic
def reset_password(actor: User, target: User, new_password: str, *, request: Any = None) -> None:
    """An administrator sets a temporary password; the user must change it at next login."""
    _require(actor, "accounts.change_user")
    require_manageable(actor, target)
    if not User.objects.for_user(actor, "change").filter(pk=target.pk).exists():
        raise OutOfScope(_("User not found."))
    _validate_password(new_password, target)
    _store_password(target, new_password)
    target.must_change_password = True
    target.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record("password.reset", user=actor, request=request, obj=target)
    # Whoever held the old password may have made tokens with it: they end with it.
    _end_tokens(target, actor=actor, request=request, reason="password reset")
