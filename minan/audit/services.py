"""The only writer of the audit trail.

`record()` is called by every service after its write, inside the same transaction, and by the
authentication layer for logins, failures and denials. Rows are chained: each hash is an HMAC,
under the current audit key (minan.audit.keys), over the row's content and the previous hash. The
chain head row is updated first so that, on PostgreSQL and on SQLite alike, concurrent writers queue
on it and never fork the chain; it is sealed with the same key after every write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from minan.core.masking import mask_value

from . import keys
from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def client_ip(request: Any) -> str | None:
    if request is None:
        return None
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


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


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for fields whose value changed, personal data masked."""
    out: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = _plain(before.get(key)), _plain(after.get(key))
        if old != new:
            out[key] = [mask_value(key, old), mask_value(key, new)]
    return out


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields}


def record_denial(
    detail: str,
    *,
    request: Any = None,
    user: Any = None,
    obj: models.Model | None = None,
    object_type: str = "",
) -> AuditEvent:
    """A refused permission check in the audit trail: the one writer of `permission.denied` (the caller
    refuses: `core.views.deny` for pages, a permission class's False for the API)."""
    return record("permission.denied", request=request, user=user, obj=obj, object_type=object_type,
                  result=AuditEvent.Result.DENIED, detail=detail[:500])  # fmt: skip


def record(
    action: str,
    *,
    user: Any = None,
    request: Any = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    result: str = AuditEvent.Result.SUCCESS,
    changes: Mapping[str, Any] | None = None,
    detail: str = "",
    username: str = "",
) -> AuditEvent:
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user if request.user.is_authenticated else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk or ""
    region_path = getattr(obj, "region_path", "") if obj is not None else ""
    key = keys.current_key()
    with transaction.atomic():
        # Lock the head first (an UPDATE takes the row lock / SQLite write lock), then read it.
        if not AuditChainHead.objects.filter(pk=1).update(count=F("count") + 1):
            # First write ever: two writers may race to create the head; the loser's insert fails
            # inside its savepoint once the winner commits, and it then queues on the update.
            try:
                with transaction.atomic():
                    AuditChainHead.objects.create(pk=1, count=0)
                # The first anchor marks, outside the database, that the trail has begun: an
                # emptied trail can no longer pass for a new one.
                from .anchors import write_anchor

                transaction.on_commit(write_anchor)
            except IntegrityError:
                pass
            AuditChainHead.objects.filter(pk=1).update(count=F("count") + 1)
        head = AuditChainHead.objects.get(pk=1)
        event = AuditEvent(
            at=timezone.now(),
            user=user if getattr(user, "pk", None) else None,
            username=(getattr(user, "username", "") or username)[:150],
            # Stored form (IPv6 is normalised on save), so the hash matches what verify reads back.
            ip=AuditEvent._meta.get_field("ip").get_prep_value(client_ip(request)),
            action=action,
            object_type=object_type,
            object_id=str(object_id)[:64],
            result=result,
            changes=dict(changes or {}),
            detail=detail[:500],
            region_path=region_path or "",
            prev_hash=head.last_hash,
            hash="",
            key_id=key.id,
        )
        # The id is part of the hash, so insert first, then fill in the hash.
        event.hash = f"pending-{head.count}"
        models.Model.save(event)
        event.hash = key.sign(canonical(event))
        AuditEvent.objects.filter(pk=event.pk).update(hash=event.hash)
        head.last_id, head.last_hash = event.pk, event.hash
        seal_head(head)
        AuditChainHead.objects.filter(pk=1).update(
            last_id=head.last_id, last_hash=head.last_hash, key_id=head.key_id, seal=head.seal
        )
    return event
