"""`minan ingest` as a process: a listener that cannot start is a non-zero exit with a one-line reason,
so whoever supervises it (`minan serve`, systemd) restarts it instead of taking an
exit status 0 for an orderly stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_ingest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "MINAN_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ingest.sqlite3'}",
        "MQTT_URL": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "minan.cli", "ingest", "--no-housekeeping", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_taken_gb26875_port_ends_ingest_with_a_non_zero_status_and_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_ingest(tmp_path, "--gb-listen", f"127.0.0.1:{port}")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"CommandError: the GB/T 26875.3 listener cannot listen on 127.0.0.1:{port}: ")
    assert "address already in use" in last
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr
    assert "minan ingest running" not in done.stdout


def test_a_malformed_listen_address_is_refused_the_same_way(tmp_path: Path) -> None:
    done = run_ingest(tmp_path, "--gb-listen", "nonsense")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "CommandError: the GB/T 26875.3 listener cannot listen on nonsense: "
        "listen address must be host:port, not 'nonsense'"
    )
