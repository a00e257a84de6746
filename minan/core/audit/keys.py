"""The audit chain's HMAC keys, held outside the database.

A key in the database, or one derived from something in the repository, would let anyone who can
write the database recompute the chain; so the keys come from the environment (`MINAN_AUDIT_KEY`,
older ones in `MINAN_AUDIT_OLD_KEYS`) or from a key file (`MINAN_AUDIT_KEY_FILE`, one key a line,
the current one first). Outside production a missing key file is generated on first use (mode
0600). Each row records the id of the key that sealed it, so old keys stay usable for verification
after a rotation.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_LENGTH = 32


@dataclass(frozen=True)
class AuditKey:
    id: str
    secret: bytes

    def sign(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


def key_id(secret: bytes) -> str:
    """A short public name for a key: it identifies the key without revealing it."""
    return hmac.new(secret, b"minan audit key id", hashlib.sha256).hexdigest()[:16]


def make_key(text: str) -> AuditKey:
    secret = text.strip().encode()
    if len(secret) < MIN_KEY_LENGTH:
        raise ImproperlyConfigured(f"an audit key needs at least {MIN_KEY_LENGTH} characters")
    return AuditKey(key_id(secret), secret)


def new_key_text() -> str:
    return secrets.token_urlsafe(48)


def read_key_file(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def write_key_file(path: Path, lines: list[str]) -> None:
    """Replace the key file atomically; readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _create_key_file(path: Path) -> None:
    # Several processes may start at once: write a private temporary file, then link it into
    # place; whoever links first wins and the others read the winner's key.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_key_text() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_cache: tuple[tuple[object, ...], list[AuditKey]] | None = None


def _source() -> tuple[object, ...]:
    if settings.AUDIT_KEY:
        return ("env", settings.AUDIT_KEY, tuple(settings.AUDIT_OLD_KEYS))
    path = Path(settings.AUDIT_KEY_FILE)
    try:
        info = path.stat()
    except FileNotFoundError:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(f"the audit key file {path} does not exist") from None
        _create_key_file(path)
        info = path.stat()
    # A rotation replaces the file (new inode): every process sees it at its next write.
    return ("file", str(path), info.st_ino, info.st_mtime_ns)


def load_keys() -> list[AuditKey]:
    """Every configured key, the current one first (re-read when the key file changes)."""
    global _cache
    source = _source()
    if _cache is not None and _cache[0] == source:
        return _cache[1]
    if source[0] == "env":
        texts = [settings.AUDIT_KEY, *settings.AUDIT_OLD_KEYS]
    else:
        texts = read_key_file(Path(settings.AUDIT_KEY_FILE))
        if not texts:
            raise ImproperlyConfigured(f"the audit key file {settings.AUDIT_KEY_FILE} holds no key")
    keys = [make_key(text) for text in texts]
    _cache = (source, keys)
    return keys


def current_key() -> AuditKey:
    return load_keys()[0]


def key_by_id(kid: str) -> AuditKey | None:
    return next((key for key in load_keys() if key.id == kid), None)
