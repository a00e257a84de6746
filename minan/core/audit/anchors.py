"""Anchors: the chain head (last row, its hash, rows ever written, time) written outside the database.

A database writer without the key cannot forge rows or the head, but could delete the newest rows
and put back an older sealed head. Each anchor is a line appended to `MINAN_AUDIT_ANCHOR_FILE` and
logged at INFO on the `minan.audit.anchor` logger (so a log shipper or a WORM store can keep a copy
the database writer cannot reach); `minan audit verify` checks the chain against every anchor.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import keys
from .hashing import UnknownKey, head_seal
from .models import AuditChainHead

logger = logging.getLogger("minan.audit.anchor")

FIELDS = ("time", "seq", "count", "head_hash", "key")


@dataclass(frozen=True)
class Anchor:
    line: int
    time: str
    seq: int
    count: int
    head_hash: str


class AnchorError(ValueError):
    """The anchor file holds a line that is not a valid, signed anchor."""


def anchor_path() -> Path | None:
    path = settings.AUDIT_ANCHOR_FILE
    return Path(path) if path else None


def _body(data: dict[str, Any]) -> bytes:
    return json.dumps({k: data[k] for k in FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1] if lines else ""


def write_anchor(*, force: bool = False, path: Path | None = None) -> dict[str, Any] | None:
    """Append the committed chain head to the anchor file; returns the anchor, or None if not written.

    Skipped when the head has not moved since the last anchor (unless `force`), when there is no
    head yet, or when no anchor file is configured. Never raises into the caller's request: an
    anchor that cannot be written is logged as an error.
    """
    path = path or anchor_path()
    if path is None:
        return None
    try:
        with transaction.atomic():
            head = AuditChainHead.objects.filter(pk=1).first()
        if head is None:
            return None
        try:
            sealed = bool(head.seal) and head_seal(head) == head.seal
        except UnknownKey:
            sealed = False
        if not sealed and head.last_id > head.legacy_until:
            # Anchoring a forged head would vouch for it.
            logger.error(
                "audit anchor refused: the chain head's seal does not match (run `minan audit verify`)"
            )
            return None
        key = keys.current_key()
        data: dict[str, Any] = {
            "time": timezone.now().isoformat(timespec="seconds"),
            "seq": head.last_id,
            "count": head.count,
            "head_hash": head.last_hash,
            "key": key.id,
        }
        if not force:
            try:
                last = json.loads(_last_line(path) or "{}")
            except ValueError:
                last = {}
            if (last.get("seq"), last.get("count"), last.get("head_hash")) == (
                data["seq"],
                data["count"],
                data["head_hash"],
            ):
                return None
        data["hmac"] = key.sign(_body(data))
        line = json.dumps(data, sort_keys=True, separators=(",", ":"))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        logger.info("audit anchor %s", line)
        return data
    except Exception:  # noqa: BLE001 (an anchor must never break the write that triggered it)
        logger.exception("audit anchor could not be written to %s", path)
        return None


def read_anchors(path: Path | None = None) -> list[Anchor]:
    """Every anchor in the file, each checked against its HMAC; raises AnchorError on the first bad line."""
    path = path or anchor_path()
    if path is None or not path.exists():
        return []
    out: list[Anchor] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            body = _body(data)
            seq, count, head_hash = int(data["seq"]), int(data["count"]), str(data["head_hash"])
        except (ValueError, KeyError, TypeError):
            raise AnchorError(f"anchor line {number} is not a valid anchor") from None
        key = keys.key_by_id(str(data["key"]))
        if key is None:
            raise AnchorError(f"anchor line {number} is signed with an unknown key ({data['key']})")
        if key.sign(body) != data.get("hmac"):
            raise AnchorError(
                f"anchor line {number} does not match its signature: the anchor file was edited"
            )
        out.append(Anchor(number, str(data["time"]), seq, count, head_hash))
    return out
