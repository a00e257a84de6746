"""Identifier checks. Own implementations: python-stdnum rejects legal USCCs that
start with a letter (N…, Y…) and valid ID numbers whose area code changed."""

from __future__ import annotations

import re
from dataclasses import dataclass

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
USCC_RE = re.compile(r"^[1-9ANY][1-59]\d{6}[0-9A-Z]{8}[0-9X][0-9A-HJ-NP-RTUW-Y]$")
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


@dataclass(frozen=True)
class UsccCheck:
    valid: bool
    error: str = ""  # "format", "alphabet", "check"
    expected: str = ""  # the right check character when error == "check"
    org_code_warning: bool = False  # GB 11714 check of positions 9–17 failed (soft)


def uscc_check_character(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _org_code_ok(code: str) -> bool:
    body, check = code[8:16], code[16]
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return check == {10: "X", 11: "0"}.get(c, str(c))


def check_uscc(value: str) -> UsccCheck:
    """Check an 18-character 统一社会信用代码 (GB 32100-2015). Upper-cases the input."""
    code = value.strip().upper()
    if len(code) != 18 or not USCC_RE.match(code):
        return UsccCheck(False, "format")
    if any(c not in USCC_ALPHABET for c in code):
        return UsccCheck(False, "alphabet")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return UsccCheck(False, "check", expected=expected)
    return UsccCheck(True, org_code_warning=not _org_code_ok(code))


def normalise_uscc(value: str) -> str:
    return value.strip().upper()
