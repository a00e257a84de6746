"""Per-device credentials for HTTP push.

A device (or the vendor platform pushing for it) gets one random token, shown once. MinAn keeps its
SHA-256 (to check `Authorization: Bearer <token>` without the token) and the token sealed with the
deployment key (`notify.crypto`, to check an HMAC-SHA256 signature of the request body keyed by the
token). Issuing again replaces the old token; revoking removes it. Changing MINAN_ENCRYPTION_KEY (or
SECRET_KEY when that is unset) invalidates HMAC checks, not bearer checks: issue new tokens then.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import NotPermitted, OutOfScope
from minan.firewatch.models import Device
from minan.notify import crypto


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _editable(actor: Any, device: Device) -> Device:
    if not actor.has_perm("firewatch.change_device"):
        raise NotPermitted(_("You do not have permission to do this."))
    found = (
        Device.objects.for_user(actor, "change").select_for_update(of=("self",)).filter(pk=device.pk).first()
    )
    if found is None:
        raise OutOfScope(_("Device not found."))
    return found


@transaction.atomic
def issue(actor: Any, device: Device, *, request: Any = None) -> str:
    """A new token for the device (replacing any old one). The caller shows it once."""
    device = _editable(actor, device)
    token = "mnd_" + secrets.token_urlsafe(32)
    Device.objects.filter(pk=device.pk).update(token_hash=_digest(token), token_sealed=crypto.encrypt(token))
    record("device.credential_issue", user=actor, request=request, obj=device, detail=device.serial)
    return token


@transaction.atomic
def revoke(actor: Any, device: Device, *, request: Any = None) -> None:
    device = _editable(actor, device)
    Device.objects.filter(pk=device.pk).update(token_hash="", token_sealed="")
    record("device.credential_revoke", user=actor, request=request, obj=device, detail=device.serial)


def has_credential(device: Device) -> bool:
    return bool(device.token_hash)


def check_bearer(device: Device, token: str) -> bool:
    return bool(device.token_hash) and hmac.compare_digest(device.token_hash, _digest(token))


def sign(token: str, body: bytes) -> str:
    """The signature a pusher sends in `X-MinAn-Signature: sha256=<hex>`."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def check_signature(device: Device, body: bytes, signature: str) -> bool:
    token = crypto.decrypt(device.token_sealed)
    return bool(token) and hmac.compare_digest(sign(token, body), signature.strip())
