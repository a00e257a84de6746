"""Secrets at rest (channel signing secrets, webhook keys): Fernet (AES-128-CBC + HMAC-SHA256).

The key is MINAN_ENCRYPTION_KEY, or one derived from SECRET_KEY when that is not set.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(b"minan-secrets:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The secret, or "" when there is none or it cannot be read (key changed)."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


def masked(plain: str) -> str:
    """What the UI and API show of a secret: its first three and last four characters at most."""
    if not plain:
        return ""
    if len(plain) <= 8:
        return "*" * len(plain)
    return f"{plain[:3]}{'*' * (len(plain) - 7)}{plain[-4:]}"
