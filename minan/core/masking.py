"""Display masking of personal data."""

from __future__ import annotations

import re
from typing import Any

SECRET_KEYS = {"password", "token", "secret", "key", "otp", "recovery_codes"}
PHONE_KEYS = {"phone", "mobile", "telephone", "contact_phone"}
ID_KEYS = {"id_number", "id_card", "resident_id"}
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def mask_phone(value: str) -> str:
    digits = value.strip()
    if MOBILE_RE.match(digits):
        return f"{digits[:3]}****{digits[-4:]}"
    if "-" in digits:  # landline: keep the area code and the last 4 digits
        area, _, rest = digits.partition("-")
        return f"{area}-{'*' * max(len(rest) - 4, 0)}{rest[-4:]}"
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_id_number(value: str) -> str:
    value = value.strip()
    if len(value) < 10:
        return "*" * len(value)
    return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"


def mask_name(value: str) -> str:
    return value[:1] + "*" * (len(value) - 1) if value else value


def mask_value(key: str, value: Any) -> Any:
    """Mask a value by the name of the field that holds it (audit before/after values)."""
    if value in (None, ""):
        return value
    name = key.lower()
    if any(part in name for part in SECRET_KEYS):
        return "******"
    if name in PHONE_KEYS or name.endswith("_phone"):
        return mask_phone(str(value))
    if name in ID_KEYS or name.endswith("_id_number"):
        return mask_id_number(str(value))
    return value
