"""Concurrent writers queue on the chain head: the chain never forks
(docs/architecture.md, concurrency rules).

Verification reads everything in one snapshot, so rows appended while it runs never show up as a
false break.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections

from minan.core.audit.chain import verify_chain
from minan.core.audit.models import AuditEvent
from minan.core.audit.services import record

WRITERS = 4
EACH = 25


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="threads need a server database; CI runs this on PostgreSQL"
)
def test_concurrent_writers_keep_one_chain() -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                record("test.concurrent", object_type="test", object_id=f"{n}-{i}", username=f"writer{n}")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert AuditEvent.objects.filter(action="test.concurrent").count() == WRITERS * EACH
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prev_hashes) == len(set(prev_hashes)), (
        "two rows point at the same predecessor: the chain forked"
    )
    result = verify_chain()
    assert result.ok and result.checked == WRITERS * EACH


WRITER_SCRIPT = """
import django, sys
django.setup()
from minan.core.audit.services import record
for i in range(int(sys.argv[1])):
    record("test.concurrent", object_type="test", object_id=str(i), username=sys.argv[2])
"""


def test_concurrent_processes_on_sqlite_file_keep_one_chain(tmp_path: object) -> None:
    """The embedded default: web workers and the Huey worker are separate processes on one file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(MINAN_ENV="test", MINAN_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="minan.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=120
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(EACH), f"w{n}"], cwd=root, env=env)
        for n in range(WRITERS)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    check = subprocess.run(
        [sys.executable, "manage.py", "audit", "verify"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert f"{WRITERS * EACH} rows verified" in check.stdout


@contextmanager
def append_between_reads(append: Callable[[], None], wait: float = 3.0) -> Iterator[threading.Thread]:
    """Run `append` on another connection between verify's reads of the rows and of the head.

    Whichever verify reads first, the append falls between the two: before the head is read if the
    rows were read already, otherwise right after the head was read. Without a snapshot verify then
    sees a head and rows from different moments. With one, the append either commits outside the
    snapshot (PostgreSQL, SQLite WAL) or waits for the read transaction to end (SQLite rollback
    journal: hence the bounded wait).
    """
    rows_read = False

    def run() -> None:
        try:
            append()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)

    def inject() -> None:
        thread.start()
        thread.join(timeout=wait)

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal rows_read
        head = "audit_auditchainhead" in sql and sql.lstrip().upper().startswith("SELECT")
        if head and rows_read and thread.ident is None:
            inject()
        result = execute(sql, params, many, context)
        if head and thread.ident is None:
            inject()
        rows_read = rows_read or "audit_auditevent" in sql
        return result

    with connection.execute_wrapper(wrapper):
        yield thread
    thread.join(timeout=60)


def _append() -> None:
    record("test.during", object_type="test", object_id="x", username="other")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="threads need a server database; CI runs this on PostgreSQL"
)
def test_an_append_between_verify_reads_is_not_a_break_on_postgresql() -> None:
    for i in range(5):
        record("test.before", object_type="test", object_id=i, username="t")
    with append_between_reads(_append):
        result = verify_chain()
    assert (result.ok, result.checked, result.reason) == (True, 5, "")
    assert AuditEvent.objects.count() == 6
    after = verify_chain()
    assert after.ok and after.checked == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="threads need a server database; CI runs this on PostgreSQL"
)
def test_verify_never_reports_a_false_break_while_writers_append() -> None:
    record("test.before", object_type="test", username="t")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            i = 0
            while not stop.is_set():
                record("test.concurrent", object_type="test", object_id=f"{n}-{i}", username=f"writer{n}")
                i += 1
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        results = [verify_chain(chunk_size=7) for _ in range(10)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert [r.reason for r in results if not r.ok] == []
    assert results[-1].checked > 1
    assert verify_chain().checked == AuditEvent.objects.count()


VERIFY_DURING_APPEND_SCRIPT = """
import django
django.setup()
from minan.core.audit.chain import verify_chain
from minan.core.audit.services import record
from minan.core.audit.tests.test_concurrency import _append, append_between_reads
for i in range(5):
    record("test.before", object_type="test", object_id=str(i), username="t")
with append_between_reads(_append):
    during = verify_chain()
after = verify_chain()
print(during.ok, during.checked, repr(during.reason), after.ok, after.checked)
"""


def test_an_append_between_verify_reads_is_not_a_break_on_a_sqlite_file(tmp_path: object) -> None:
    """Deterministic: another process's connection appends right between verify's reads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("MINAN_AUDIT")}
    env.update(MINAN_ENV="test", MINAN_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="minan.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True, timeout=120
    )
    check = subprocess.run(
        [sys.executable, "-c", VERIFY_DURING_APPEND_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split("\n")[-2] == "True 5 '' True 6"
