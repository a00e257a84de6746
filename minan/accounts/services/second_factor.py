"""The second factor: TOTP enrolment and one-time recovery codes."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from minan.core.audit.services import record
from minan.core.errors import DomainError

from ..models import User


def totp_device(user: User, *, confirmed: bool | None = True) -> TOTPDevice | None:
    qs = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        qs = qs.filter(confirmed=confirmed)
    return qs.order_by("-id").first()


@transaction.atomic
def start_totp_enrolment(user: User, *, request: Any = None) -> TOTPDevice:
    """An unconfirmed device whose secret the user adds to an authenticator app."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    record("totp.enrol_start", user=user, request=request, obj=user)
    return device


@transaction.atomic
def confirm_totp(user: User, device: TOTPDevice, code: str, *, request: Any = None) -> list[str]:
    """Confirm enrolment with a first code; replaces older devices and issues recovery codes."""
    if device.user_id != user.pk or device.confirmed:
        raise DomainError(_("This enrolment is not valid any more; start again."))
    if not device.verify_token(code.strip()):
        record("totp.enrol_confirm", user=user, request=request, obj=user, result="failure")
        raise DomainError(_("The code is wrong or expired."), field="code")
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    record("totp.enrol_confirm", user=user, request=request, obj=user)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    static, _created = StaticDevice.objects.get_or_create(
        user=user, name="recovery", defaults={"confirmed": True}
    )
    static.token_set.all().delete()
    codes = [f"{secrets.token_hex(2)}-{secrets.token_hex(2)}" for _i in range(settings.RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    return codes


@transaction.atomic
def regenerate_recovery_codes(user: User, *, request: Any = None) -> list[str]:
    codes = _new_recovery_codes(user)
    record("totp.recovery_codes", user=user, request=request, obj=user)
    return codes


def verify_second_factor(user: User, code: str) -> Any:
    """The device that accepts `code` (TOTP first, then a one-time recovery code), or None."""
    code = code.strip().replace(" ", "")
    device = totp_device(user)
    if device is not None and code.isdigit() and device.verify_token(code):
        return device
    for static in StaticDevice.objects.filter(user=user, confirmed=True):
        if static.verify_token(code.lower()):
            return static
    return None
