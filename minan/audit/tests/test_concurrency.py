"""Concurrent writers queue on the chain head: the chain never forks (DESIGN.md §4 concurrency rule)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from minan.audit.chain import verify_chain
from minan.audit.models import AuditEvent
from minan.audit.services import record

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
from minan.audit.services import record
for i in range(int(sys.argv[1])):
    record("test.concurrent", object_type="test", object_id=str(i), username=sys.argv[2])
"""


def test_concurrent_processes_on_sqlite_file_keep_one_chain(tmp_path: object) -> None:
    """The embedded default: web workers and the Huey worker are separate processes on one file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
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
