"""Verification of the audit hash chain (archiving, which writes, is `services.archive_before`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Sum

from .anchors import Anchor, AnchorError, read_anchors
from .hashing import GENESIS_HASH, UnknownKey, compute_hash, head_seal
from .models import AuditArchive, AuditChainHead, AuditEvent


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""
    archived: int = 0  # rows archived before the online chain
    legacy: int = 0  # online rows sealed with plain SHA-256 before keys existed
    anchors: int = 0  # anchors the chain matched
    unchecked_anchors: int = 0  # anchors pointing into an archive file that is not at hand


class _Broken(Exception):
    def __init__(self, bad_id: int | None, reason: str) -> None:
        super().__init__(reason)
        self.bad_id, self.reason = bad_id, reason


@contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent view of the audit tables for every read inside the block.

    PostgreSQL: a REPEATABLE READ, read-only transaction. SQLite: one deferred read transaction
    (the project's IMMEDIATE mode would take the write lock). Inside a caller's transaction the
    caller's view is used as it is.
    """
    if connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield
    elif connection.vendor == "sqlite":
        mode = connection.transaction_mode  # type: ignore[attr-defined]
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                yield
        finally:
            connection.transaction_mode = mode  # type: ignore[attr-defined]
    else:
        with transaction.atomic():
            yield


def verify_chain(chunk_size: int = 5000, anchor_file: Path | None = None) -> VerifyResult:
    """Check the online chain, its head and every anchor in one snapshot; report the first break.

    The anchor file is read before the snapshot starts, so every anchor in it refers to rows the
    snapshot can see; rows appended while verifying are simply not part of this check.
    """
    try:
        anchors = read_anchors(anchor_file)
    except AnchorError as exc:
        return VerifyResult(False, 0, None, str(exc))
    result = VerifyResult(True, 0)
    try:
        with read_snapshot():
            _verify(result, anchors, chunk_size)
    except _Broken as exc:
        result.ok, result.bad_id, result.reason = False, exc.bad_id, exc.reason
    return result


def _verify(result: VerifyResult, anchors: list[Anchor], chunk_size: int) -> None:
    head = AuditChainHead.objects.filter(pk=1).first()
    archive = AuditArchive.objects.order_by("-last_id").first()
    result.archived = AuditArchive.objects.aggregate(n=Sum("rows"))["n"] or 0
    if head is None:
        if archive is not None or AuditEvent.objects.exists():
            first = AuditEvent.objects.order_by("id").values_list("id", flat=True).first()
            raise _Broken(first, "the chain head row is missing")
        written = max((a.count for a in anchors), default=0)
        if written:
            raise _Broken(
                None,
                f"the audit trail is empty but the anchor of {anchors[-1].time} recorded {written} rows: "
                "rows and head were deleted",
            )
        return

    wanted = {a.seq for a in anchors}
    found: dict[int, str] = {}
    expected_prev = archive.last_hash if archive else GENESIS_HASH
    last_id = archive.last_id if archive else 0
    archive_events: dict[str, AuditEvent] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.prev_hash != expected_prev:
            raise _Broken(
                event.pk, "the previous-hash link is broken: a row before it was deleted or inserted"
            )
        if not event.key_id:
            if event.pk > head.legacy_until:
                raise _Broken(
                    event.pk, "a row without a key after the keyed rows began: it was inserted or rewritten"
                )
            result.legacy += 1
        try:
            ok = compute_hash(event) == event.hash
        except UnknownKey:
            raise _Broken(
                event.pk,
                f"the row is sealed with key {event.key_id}, which is not configured "
                "(keep old keys for verification: MINAN_AUDIT_OLD_KEYS or the key file)",
            ) from None
        if not ok:
            raise _Broken(event.pk, "the row's content does not match its hash: it was edited")
        if event.pk in wanted:
            found[event.pk] = event.hash
        if archive is not None and event.action == "audit.archive" and event.object_id == str(archive.pk):
            archive_events[event.object_id] = event
        expected_prev, last_id = event.hash, event.pk
        result.checked += 1

    # After the walk, so that an edited row is named even when the writer also touched the head.
    _check_head_seal(head)
    if head.last_hash != expected_prev or head.last_id != last_id:
        if head.last_id > last_id:
            raise _Broken(
                last_id or None, f"the chain ends before row {head.last_id}: rows at the end were deleted"
            )
        raise _Broken(last_id or None, "the chain head does not match the last row: the head was rolled back")
    if archive is not None:
        _check_archive(archive, archive_events.get(str(archive.pk)))
    present = result.checked + result.archived
    if present != head.count:
        raise _Broken(
            last_id or None,
            f"the head records {head.count} rows ever written but {present} are accounted for "
            f"({result.checked} online, {result.archived} archived)",
        )
    for anchor in anchors:
        _check_anchor(result, anchor, head, present, found, archive, last_id)


def _check_head_seal(head: AuditChainHead) -> None:
    if not head.seal:
        # Only a trail upgraded from plain SHA-256 and not written since has an unsealed head.
        if head.last_id > head.legacy_until or AuditEvent.objects.exclude(key_id="").exists():
            raise _Broken(head.last_id or None, "the chain head is not sealed: it was rewritten")
        return
    try:
        ok = head_seal(head) == head.seal
    except UnknownKey:
        raise _Broken(
            head.last_id or None, f"the chain head is sealed with key {head.key_id}, which is not configured"
        ) from None
    if not ok:
        raise _Broken(head.last_id or None, "the chain head does not match its seal: it was edited")


def _check_archive(archive: AuditArchive, event: AuditEvent | None) -> None:
    """The newest archive, where the online chain starts, must be the one its keyed audit event names."""
    if event is None:
        raise _Broken(archive.first_id, f"archive record {archive.pk} has no audit event: it was forged")
    if not event.key_id:
        return  # archived before keys existed: the event did not record the archive's fields
    recorded = {k: v[1] for k, v in event.changes.items() if isinstance(v, list) and len(v) == 2}
    actual = {
        "first_id": archive.first_id,
        "last_id": archive.last_id,
        "last_hash": archive.last_hash,
        "rows": archive.rows,
        "sha256": archive.sha256,
    }
    if any(recorded.get(k) != v for k, v in actual.items()):
        raise _Broken(
            archive.first_id, f"archive record {archive.pk} differs from its audit event: it was edited"
        )


def _check_anchor(
    result: VerifyResult,
    anchor: Anchor,
    head: AuditChainHead,
    present: int,
    found: dict[int, str],
    archive: AuditArchive | None,
    last_id: int,
) -> None:
    where = f"the anchor of {anchor.time} (line {anchor.line})"
    if anchor.count > head.count or anchor.count > present:
        raise _Broken(
            last_id or None,
            f"{where} recorded {anchor.count} rows ever written, more than the {present} present: "
            "rows at the end were deleted and the head rolled back",
        )
    if anchor.seq == 0:
        result.anchors += 1
        return
    if anchor.seq > last_id:
        raise _Broken(
            last_id or None, f"row {anchor.seq} recorded by {where} is missing: rows at the end were deleted"
        )
    if archive is not None and anchor.seq <= archive.last_id:
        archived_hash = _archived_hash(anchor.seq)
        if archived_hash is None:
            result.unchecked_anchors += 1
            return
        if archived_hash != anchor.head_hash:
            raise _Broken(anchor.seq, f"archived row {anchor.seq} does not match {where}")
        result.anchors += 1
        return
    if anchor.seq not in found:
        raise _Broken(anchor.seq, f"row {anchor.seq} recorded by {where} is missing: it was deleted")
    if found[anchor.seq] != anchor.head_hash:
        raise _Broken(anchor.seq, f"row {anchor.seq} does not match {where}: the chain was rewritten")
    result.anchors += 1


def _archived_hash(seq: int) -> str | None:
    """The hash of an archived row, read from its archive file (None if the file is not at hand)."""
    archive = AuditArchive.objects.filter(first_id__lte=seq, last_id__gte=seq).first()
    if archive is None:
        return None
    if seq == archive.last_id:
        return archive.last_hash
    path = Path(archive.path)
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["id"] == seq:
                return str(row["hash"])
    return ""  # the file lacks a row its range covers: never equal to an anchor's hash
