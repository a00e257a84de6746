"""Tamper evidence against a database writer without the key.

Each test plays the writer: raw SQL on the audit tables, plain SHA-256 recomputed, the head rolled
back to an older state; `verify` must report it. The limits documented in docs/security.md are
asserted too, so the documentation cannot drift from the behaviour.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import stat
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from minan.core.audit import keys
from minan.core.audit.anchors import read_anchors, write_anchor
from minan.core.audit.chain import verify_chain
from minan.core.audit.models import AuditArchive, AuditChainHead, AuditEvent
from minan.core.audit.services import GENESIS_HASH, archive_before, canonical, compute_hash, record, seal_head
from minan.core.audit.tasks import anchor_audit_head

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[4]


def make_events(n: int, action: str = "test.event") -> list[AuditEvent]:
    return [
        record(action, object_type="test", object_id=i, detail=f"event {i}", username="tester")
        for i in range(n)
    ]


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _head_values() -> tuple[Any, ...]:
    return tuple(
        AuditChainHead.objects.filter(pk=1)
        .values_list("last_id", "last_hash", "count", "key_id", "seal")
        .get()
    )


def _put_head(values: tuple[Any, ...]) -> None:
    _sql(
        "UPDATE audit_auditchainhead SET last_id=%s, last_hash=%s, count=%s, key_id=%s, seal=%s WHERE id=1",
        *values,
    )


# -- 14: emptied trail -----------------------------------------------------------------------------


def test_deleting_every_row_and_the_head_is_reported(_audit_key_and_anchors: Path) -> None:
    make_events(4)
    assert write_anchor() is not None
    _sql("DELETE FROM audit_auditevent")
    _sql("DELETE FROM audit_auditchainhead")
    result = verify_chain()
    assert not result.ok and result.checked == 0
    assert "the audit trail is empty" in result.reason and "recorded 4 rows" in result.reason
    with pytest.raises(CommandError, match="audit chain broken at the trail: the audit trail is empty"):
        call_command("audit", "verify")


def test_the_first_write_anchors_the_start_of_the_trail(
    _audit_key_and_anchors: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # No periodic anchor yet: the anchor written when the head is created is enough.
    with django_capture_on_commit_callbacks(execute=True):
        make_events(1)
    make_events(2)
    [anchor] = read_anchors()
    assert (anchor.seq, anchor.count) == (AuditEvent.objects.order_by("id").first().pk, 1)
    assert verify_chain().ok
    _sql("DELETE FROM audit_auditevent")
    _sql("DELETE FROM audit_auditchainhead")
    result = verify_chain()
    assert not result.ok and "recorded 1 rows" in result.reason


def test_a_missing_head_is_reported_while_rows_exist() -> None:
    events = make_events(2)
    _sql("DELETE FROM audit_auditchainhead")
    result = verify_chain()
    assert (
        not result.ok and result.bad_id == events[0].pk and result.reason == "the chain head row is missing"
    )


# -- 14: truncation with the head rolled back ------------------------------------------------------


def test_deleting_the_last_row_and_rolling_the_head_back_is_caught_by_the_anchor() -> None:
    make_events(3)
    before = _head_values()
    last = make_events(1)[0]
    write_anchor()
    _sql("DELETE FROM audit_auditevent WHERE id = %s", last.pk)
    _put_head(before)  # an older, validly sealed head
    result = verify_chain()
    assert not result.ok
    assert "recorded 4 rows ever written, more than the 3 present" in result.reason
    with pytest.raises(CommandError, match="rows at the end were deleted and the head rolled back"):
        call_command("audit", "verify")


def test_truncation_after_the_last_anchor_is_the_documented_limit(_audit_key_and_anchors: Path) -> None:
    make_events(2)
    write_anchor()
    before = _head_values()
    last = make_events(1)[0]
    _sql("DELETE FROM audit_auditevent WHERE id = %s", last.pk)
    _put_head(before)
    # Nothing outside the database saw row 3: the rolled-back chain is indistinguishable (docs/security.md).
    assert verify_chain().ok


def test_an_anchor_ahead_of_the_rows_is_reported_even_when_counts_agree() -> None:
    events = make_events(3)
    write_anchor()
    _sql("DELETE FROM audit_auditevent WHERE id = %s", events[2].pk)
    _sql("UPDATE audit_auditchainhead SET count = count + 1")  # the writer cannot reseal it
    result = verify_chain()
    assert not result.ok and result.reason == "the chain head does not match its seal: it was edited"


# -- 14: rewriting with plain hashes ---------------------------------------------------------------


def _rewrite_plain(from_id: int) -> None:
    """What a writer without the key can do: recompute SHA-256 from the edited row to the head."""
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id"):
        if event.pk < from_id:
            prev = event.hash
            continue
        event.prev_hash = prev
        prev = hashlib.sha256(canonical(event)).hexdigest()
        _sql("UPDATE audit_auditevent SET prev_hash=%s, hash=%s WHERE id=%s", event.prev_hash, prev, event.pk)
    _sql("UPDATE audit_auditchainhead SET last_hash=%s", prev)


def test_editing_a_row_and_recomputing_the_later_plain_hashes_is_detected() -> None:
    events = make_events(5)
    _sql("UPDATE audit_auditevent SET detail=%s WHERE id=%s", "forged", events[2].pk)
    _rewrite_plain(events[2].pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == events[2].pk and result.checked == 2
    assert result.reason == "the row's content does not match its hash: it was edited"


def test_turning_keyed_rows_into_legacy_rows_is_detected() -> None:
    events = make_events(3)
    _sql("UPDATE audit_auditevent SET key_id='' WHERE id >= %s", events[1].pk)
    _rewrite_plain(events[1].pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == events[1].pk
    assert "a row without a key after the keyed rows began" in result.reason


def test_the_head_seal_covers_its_fields() -> None:
    make_events(2)
    _sql("UPDATE audit_auditchainhead SET legacy_until = 99")
    result = verify_chain()
    assert not result.ok and result.reason == "the chain head does not match its seal: it was edited"


def test_an_edited_anchor_line_is_reported(_audit_key_and_anchors: Path) -> None:
    make_events(2)
    write_anchor()
    path = _audit_key_and_anchors
    data = json.loads(path.read_text())
    data["count"] = 1
    path.write_text(json.dumps(data) + "\n")
    result = verify_chain()
    assert not result.ok and result.reason == (
        "anchor line 1 does not match its signature: the anchor file was edited"
    )


# -- keys ------------------------------------------------------------------------------------------


def test_the_development_key_file_is_generated_private_and_stable(settings: Any) -> None:
    path = Path(settings.AUDIT_KEY_FILE)
    assert not path.exists()
    first = make_events(1)[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key_id == keys.current_key().id and len(first.key_id) == 16
    assert keys.read_key_file(path) and first.key_id not in path.read_text()  # the id is not the key


def test_rows_name_their_key_and_need_it_to_verify(settings: Any) -> None:
    events = make_events(2)
    settings.AUDIT_KEY = "x" * 40  # another key only: the rows' key is gone
    result = verify_chain()
    assert not result.ok and result.bad_id is not None
    assert f"sealed with key {events[-1].key_id}, which is not configured" in result.reason


def test_rotate_key_keeps_old_keys_for_verification(settings: Any, _audit_key_and_anchors: Path) -> None:
    before = make_events(2)
    out = StringIO()
    call_command("audit", "rotate-key", stdout=out)
    after = make_events(1)[0]
    path = Path(settings.AUDIT_KEY_FILE)
    lines = keys.read_key_file(path)
    assert len(lines) == 2 and stat.S_IMODE(path.stat().st_mode) == 0o600
    rotation = AuditEvent.objects.get(action="audit.key_rotate")
    assert rotation.changes == {"key_id": [before[0].key_id, after.key_id]}
    assert rotation.key_id == after.key_id != before[0].key_id
    assert f"rows are now sealed with {after.key_id}" in out.getvalue()
    result = verify_chain()
    assert result.ok and result.checked == 4
    # Dropping the old key makes the old rows unverifiable: they stay sealed, never re-signed.
    path.write_text(lines[0] + "\n")
    assert not verify_chain().ok


def test_rotate_key_with_an_environment_key_explains_the_steps(settings: Any) -> None:
    settings.AUDIT_KEY = "e" * 40
    out = StringIO()
    call_command("audit", "rotate-key", stdout=out)
    assert "MINAN_AUDIT_OLD_KEYS=<the current MINAN_AUDIT_KEY>" in out.getvalue()
    assert keys.current_key().id == keys.make_key("e" * 40).id  # nothing changed by itself
    settings.AUDIT_OLD_KEYS = ["e" * 40]
    make_events(1)
    settings.AUDIT_KEY, settings.AUDIT_OLD_KEYS = "n" * 40, ["e" * 40]
    make_events(1)
    assert verify_chain().ok and len(set(AuditEvent.objects.values_list("key_id", flat=True))) == 2


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MINAN_AUDIT") and k not in {"SECRET_KEY", "MINAN_ENV"}
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_an_audit_key(tmp_path: Path) -> None:
    env = {
        "MINAN_ENV": "production",
        "SECRET_KEY": "Zq8#vL2@pX9!mW4$rT7^yU1&iO5*aS3(dF6)gH0_jK" + "s" * 20,
        "ALLOWED_HOSTS": "minan.example.gov.cn",
        "MINAN_VAR_DIR": str(tmp_path),
    }
    refused = _run("manage.py", "check", **env)
    assert refused.returncode != 0 and "Production needs MINAN_AUDIT_KEY" in refused.stderr
    assert not (tmp_path / "audit.key").exists()  # no key is generated in production
    short = _run("manage.py", "check", MINAN_AUDIT_KEY="short", **env)
    assert short.returncode != 0 and "Production needs MINAN_AUDIT_KEY" in short.stderr
    started = _run("manage.py", "check", MINAN_AUDIT_KEY="k" * 48, **env)
    assert started.returncode == 0, started.stderr
    missing = _run("manage.py", "check", MINAN_AUDIT_KEY_FILE=str(tmp_path / "none.key"), **env)
    assert missing.returncode != 0 and "no audit key file at" in missing.stderr
    (tmp_path / "audit.key").write_text("f" * 48 + "\n")
    from_file = _run("manage.py", "check", MINAN_AUDIT_KEY_FILE=str(tmp_path / "audit.key"), **env)
    assert from_file.returncode == 0, from_file.stderr


# -- legacy rows (the migration) -------------------------------------------------------------------


def _make_legacy(n: int) -> list[AuditEvent]:
    """Rows as the trail held them before keys: plain SHA-256, unsealed head."""
    events = make_events(n, "test.legacy")
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id"):
        event.key_id, event.prev_hash = "", prev
        prev = compute_hash(event)
        _sql(
            "UPDATE audit_auditevent SET key_id='', prev_hash=%s, hash=%s WHERE id=%s",
            event.prev_hash,
            prev,
            event.pk,
        )
    _sql("UPDATE audit_auditchainhead SET last_hash=%s, key_id='', seal='', legacy_until=0", prev)
    return events


def test_the_migration_keeps_existing_rows_verifiable_as_legacy() -> None:
    legacy = _make_legacy(3)
    migration = importlib.import_module("minan.core.audit.migrations.0002_keyed_chain")
    migration.record_legacy_boundary(django_apps, None)
    assert AuditChainHead.objects.get(pk=1).legacy_until == legacy[-1].pk
    result = verify_chain()
    assert result.ok and result.legacy == 3
    keyed = make_events(2)
    assert keyed[0].prev_hash == AuditEvent.objects.get(pk=legacy[-1].pk).hash
    result = verify_chain()
    assert result.ok and (result.checked, result.legacy) == (5, 3)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "3 rows predate the keyed chain" in out.getvalue()
    # Once a keyed row follows them, legacy rows cannot be rewritten either.
    _sql("UPDATE audit_auditevent SET detail='forged' WHERE id=%s", legacy[1].pk)
    prev = AuditEvent.objects.get(pk=legacy[0].pk).hash
    for event in AuditEvent.objects.filter(pk__in=[e.pk for e in legacy[1:]]).order_by("id"):
        event.prev_hash = prev
        prev = compute_hash(event)
        _sql("UPDATE audit_auditevent SET prev_hash=%s, hash=%s WHERE id=%s", event.prev_hash, prev, event.pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == keyed[0].pk and "previous-hash link is broken" in result.reason


def test_an_unsealed_head_is_refused_once_keyed_rows_exist() -> None:
    make_events(2)
    _sql("UPDATE audit_auditchainhead SET seal='', key_id=''")
    result = verify_chain()
    assert not result.ok and result.reason == "the chain head is not sealed: it was rewritten"


# -- anchors: the task, the log stream, archives ---------------------------------------------------


def test_the_periodic_anchor_writes_a_signed_line_when_the_head_moved(
    _audit_key_and_anchors: Path, caplog: Any
) -> None:
    make_events(2)
    with caplog.at_level(logging.INFO, logger="minan.audit.anchor"):
        anchor_audit_head.call_local()
        anchor_audit_head.call_local()  # unchanged: no second line
    lines = _audit_key_and_anchors.read_text().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    head = AuditChainHead.objects.get(pk=1)
    assert (data["seq"], data["count"], data["head_hash"]) == (head.last_id, 2, head.last_hash)
    assert set(data) == {"time", "seq", "count", "head_hash", "key", "hmac"}
    assert [r.getMessage() for r in caplog.records] == [f"audit anchor {lines[0]}"]
    assert stat.S_IMODE(_audit_key_and_anchors.stat().st_mode) == 0o600
    make_events(1)
    anchor_audit_head.call_local()
    result = verify_chain()
    assert result.ok and result.anchors == 2


def test_a_forged_head_is_not_anchored(_audit_key_and_anchors: Path, caplog: Any) -> None:
    make_events(2)
    _sql("UPDATE audit_auditchainhead SET count = 7")
    with caplog.at_level(logging.ERROR, logger="minan.audit.anchor"):
        assert write_anchor() is None
    assert not _audit_key_and_anchors.exists()
    assert "seal does not match" in caplog.text
    with pytest.raises(CommandError, match="no anchor written"):
        call_command("audit", "anchor")


def _age(events: list[AuditEvent], days: int) -> None:
    """Move rows back in time and re-seal the chain and head with the key (test set-up only)."""
    AuditEvent.objects.filter(pk__in=[e.pk for e in events]).update(at=timezone.now() - timedelta(days=days))
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id"):
        event.prev_hash = prev
        prev = compute_hash(event)
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=event.prev_hash, hash=prev)
    head = AuditChainHead.objects.get(pk=1)
    head.last_hash = prev
    seal_head(head)
    head.save()


def test_archive_and_anchors_stay_coherent(tmp_path: Path) -> None:
    _age(make_events(2), 400)
    write_anchor()  # row 2: inside the coming archive
    _age(make_events(1), 400)  # row 3 (rows 1–2 keep their hashes)
    write_anchor()  # row 3: the archive's last row
    make_events(1)
    write_anchor()  # row 4 stays online
    archive = archive_before(timezone.now() - timedelta(days=365), tmp_path)
    assert archive is not None and archive.rows == 3
    event = AuditEvent.objects.get(action="audit.archive")
    assert event.changes["rows"] == [None, 3] and event.changes["last_hash"] == [None, archive.last_hash]
    write_anchor()
    result = verify_chain()
    assert result.ok and (result.checked, result.archived) == (2, 3)
    assert (result.anchors, result.unchecked_anchors) == (4, 0)
    # The archive file moved offline: the anchor inside it can no longer be checked, and says so.
    Path(archive.path).unlink()
    result = verify_chain()
    assert result.ok and (result.anchors, result.unchecked_anchors) == (3, 1)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "1 anchors point into archive files that are not at hand" in out.getvalue()
    # Editing the archive record, where the online chain starts, is caught by its sealed event.
    _sql("UPDATE audit_auditarchive SET rows = 2")
    result = verify_chain()
    assert not result.ok and "differs from its audit event" in result.reason


def test_a_forged_archive_record_is_detected() -> None:
    events = make_events(4)
    # The writer deletes the first rows and pretends they were archived.
    _sql("DELETE FROM audit_auditevent WHERE id <= %s", events[1].pk)
    AuditArchive.objects.create(
        first_id=events[0].pk,
        last_id=events[1].pk,
        last_hash=events[1].hash,
        rows=2,
        path="/nowhere",
        sha256="0" * 64,
    )
    result = verify_chain()
    assert (
        not result.ok
        and result.reason
        == f"archive record {AuditArchive.objects.get().pk} has no audit event: it was forged"
    )
