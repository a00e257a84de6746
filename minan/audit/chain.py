"""Verification and archiving of the audit hash chain."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AuditArchive, AuditChainHead, AuditEvent
from .services import GENESIS_HASH, compute_hash, record


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""


def verify_chain(chunk_size: int = 5000) -> VerifyResult:
    """Walk the chain from the last archive (or genesis) and report the first broken row."""
    archive = AuditArchive.objects.order_by("-last_id").first()
    expected_prev = archive.last_hash if archive else GENESIS_HASH
    checked = 0
    last_id: int | None = None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.prev_hash != expected_prev:
            return VerifyResult(
                False,
                checked,
                event.pk,
                "the previous-hash link is broken: a row before it was deleted or inserted",
            )
        if compute_hash(event) != event.hash:
            return VerifyResult(
                False, checked, event.pk, "the row's content does not match its hash: it was edited"
            )
        expected_prev = event.hash
        last_id = event.pk
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None and checked:
        return VerifyResult(False, checked, last_id, "the chain head row is missing")
    if head is not None and head.last_hash != expected_prev:
        return VerifyResult(
            False, checked, last_id, f"the chain ends before row {head.last_id}: rows at the end were deleted"
        )
    return VerifyResult(True, checked)


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
                line = json.dumps(
                    {
                        "id": event.pk,
                        "at": event.at.isoformat(),
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
                        "prev_hash": event.prev_hash,
                        "hash": event.hash,
                    },
                    ensure_ascii=False,
                )
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
        record(
            "audit.archive",
            user=user,
            obj=archive,
            detail=f"rows {first_id}–{last.pk} ({count}) → {path.name}",
        )
    return archive
