"""The hashes of the audit chain: what a row's hash covers, the keyed HMAC over it, and the seal of the
chain head. Pure functions: the writer (`services.record`) and the verifier (`chain`) both use them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from . import keys
from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


class UnknownKey(LookupError):
    """A row or the head names a key id that is not configured."""


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """What a row's hash covers (keyed rows also cover their key id): hashed by `canonical`, and written
    with the hash to each line of an archive, so an archived row can be checked the same way."""
    at = event.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = {
        "id": event.pk,
        "at": at,
        "user": event.user_id,
        "username": event.username,
        "ip": event.ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "result": event.result,
        "changes": event.changes,
        "detail": event.detail,
        "region_path": event.region_path,
        "prev": event.prev_hash,
    }
    if event.key_id:
        body["key"] = event.key_id
    return body


def canonical_fields(fields: Mapping[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def canonical(event: AuditEvent) -> bytes:
    """The exact bytes a row's hash covers."""
    return canonical_fields(hashed_fields(event))


def _key(kid: str) -> keys.AuditKey:
    key = keys.key_by_id(kid)
    if key is None:
        raise UnknownKey(kid)
    return key


def compute_hash(event: AuditEvent) -> str:
    """HMAC under the row's key; plain SHA-256 for legacy rows (empty key id)."""
    return hash_of(hashed_fields(event))


def hash_of(fields: Mapping[str, Any]) -> str:
    """The hash of a row given its `hashed_fields` (as an archive line holds them)."""
    kid = fields.get("key", "")
    if not kid:
        return hashlib.sha256(canonical_fields(fields)).hexdigest()
    return _key(kid).sign(canonical_fields(fields))


def head_seal(head: AuditChainHead) -> str:
    """The HMAC over what the head records, under the head's key."""
    body = f"minan-audit-head|{head.last_id}|{head.last_hash}|{head.count}|{head.legacy_until}"
    return _key(head.key_id).sign(body.encode())


def seal_head(head: AuditChainHead) -> None:
    head.key_id = keys.current_key().id
    head.seal = head_seal(head)
