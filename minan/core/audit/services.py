"""The only writer of the audit trail, and archiving of its oldest rows (`archive_before`).

`record()` is called by every service after its write, inside the same transaction, and by the
authentication layer for logins, failures and denials. Rows are chained: each hash is an HMAC,
under the current audit key (minan.core.audit.keys), over the row's content and the previous hash. The
chain head row is updated first so that, on PostgreSQL and on SQLite alike, concurrent writers queue
on it and never fork the chain; it is sealed with the same key after every write.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from minan.core.masking import mask_value

from . import keys
from .anchors import write_anchor
from .chain import verify_chain
from .hashing import (
    GENESIS_HASH,
    UnknownKey,
    canonical,
    canonical_fields,
    compute_hash,
    hash_of,
    hashed_fields,
    head_seal,
    seal_head,
)
from .models import AuditArchive, AuditChainHead, AuditEvent

# Re-exported: callers and tests read the chain's hashing from here.
__all__ = [
    "GENESIS_HASH",
    "UnknownKey",
    "archive_before",
    "canonical",
    "canonical_fields",
    "client_ip",
    "compute_hash",
    "diff",
    "hash_of",
    "hashed_fields",
    "head_seal",
    "record",
    "record_denial",
    "seal_head",
    "snapshot",
]


def client_ip(request: Any) -> str | None:
    if request is None:
        return None
    return get_client_ip_address(request) or None


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


def archive_before(cutoff: datetime, directory: Path | None = None, *, user=None) -> AuditArchive | None:
    """Move the chain prefix older than `cutoff` to a gzipped JSON-lines file.

    Refuses to cut inside the retention period and refuses to archive a broken chain.
    """
    minimum = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if cutoff > minimum:
        raise ValueError(f"audit rows are kept online for {settings.AUDIT_RETENTION_DAYS} days")
    result = verify_chain()
    if not result.ok:
        raise ValueError(f"the audit chain is broken at row {result.bad_id}; archive refused")
    directory = Path(directory or settings.AUDIT_ARCHIVE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        first_kept = (
            AuditEvent.objects.filter(at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
        )
        rows = AuditEvent.objects.order_by("id")
        if first_kept is not None:
            rows = rows.filter(id__lt=first_kept)
        ids = list(rows.values_list("id", flat=True)[:1])
        if not ids:
            return None
        path = directory / f"audit-{timezone.now():%Y%m%dT%H%M%S}-{ids[0]}.jsonl.gz"
        digest = hashlib.sha256()
        count, first_id, last = 0, ids[0], None
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for event in rows.iterator(chunk_size=5000):
                # What the hash covers, and the hash: each archived row can be checked on its own.
                line = json.dumps({**hashed_fields(event), "hash": event.hash}, ensure_ascii=False)
                fh.write(line + "\n")
                digest.update(line.encode() + b"\n")
                count, last = count + 1, event
        assert last is not None
        archive = AuditArchive.objects.create(
            first_id=first_id,
            last_id=last.pk,
            last_hash=last.hash,
            rows=count,
            path=str(path),
            sha256=digest.hexdigest(),
        )
        rows.filter(id__lte=last.pk)._raw_delete(rows.db)
        # The keyed event seals the archive's fields: verify starts the online chain from them.
        fields = {
            "first_id": archive.first_id,
            "last_id": archive.last_id,
            "last_hash": archive.last_hash,
            "rows": archive.rows,
            "sha256": archive.sha256,
        }
        record(
            "audit.archive",
            user=user,
            obj=archive,
            changes={name: [None, value] for name, value in fields.items()},
            detail=f"rows {first_id}–{last.pk} ({count}) → {path.name}",
        )
        transaction.on_commit(write_anchor)
    return archive
