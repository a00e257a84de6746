"""Authentication events go to the audit trail. Django and django-axes announce them only as
signals, so these receivers are the one place that turns them into audit rows."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from minan.core.audit.services import record

from .services import clear_login_failures


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("login", user=user, request=request, obj=user)


@receiver(user_logged_in)
def clear_own_failures(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A success clears only this account's failures from this address (AXES_RESET_ON_SUCCESS is off).

    Failures on other accounts from the same address keep counting, so a valid login interleaved with
    guesses at other accounts (password spraying) still locks the address."""
    ip = getattr(request, "axes_ip_address", None)
    if ip:
        clear_login_failures(user.get_username(), ip)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record("logout", user=user, request=request, obj=user)


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    record(
        "login.failed",
        request=request,
        user=None,
        username=str(credentials.get("username", ""))[:150],
        result="failure",
        object_type="accounts.user",
    )


@receiver(user_locked_out)
def audit_locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: str | None = None, **kwargs: Any
) -> None:
    record(
        "login.locked",
        request=request,
        user=None,
        username=username or "",
        result="denied",
        detail=f"ip={ip_address}",
    )
