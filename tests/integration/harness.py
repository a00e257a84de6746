"""A throw-away MinAn deployment for ingest tests and benchmarks: its own Mosquitto, its own database
(a new PostgreSQL database when DATABASE_URL points at PostgreSQL, else an SQLite file), devices, and
`minan ingest` as a real subprocess that can be killed.

The broker is configured the way docs/operations.md tells deployments to: unlimited queues for
persistent sessions (Mosquitto's default of 1000 queued messages drops a backlog).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
"""

SEED = """
from minan.regions.models import Region
from minan.institutions.models import Institution
from minan.firewatch.models import Device
def make(code, name, level, parent):
    path = (parent.region_path if parent else "") + code + "/"
    return Region.objects.create(code=code, name=name, level=level, parent=parent, region_path=path)
sd = make("370000", "山东省", "province", None)
jn = make("370800", "济宁市", "city", sd)
rc = make("370811", "任城区", "county", jn)
home = Institution.objects.create(name="任城区测试敬老院", kind="elderly_care", region=rc, region_path=rc.region_path)
Device.objects.bulk_create(
    Device(institution=home, region_path=home.region_path, type="smoke", name=f"烟感{{n}}", protocol="mqtt",
           serial=f"IT-{{n:05d}}", heartbeat_seconds=300, grace_seconds=60)
    for n in range({devices})
)
"""

STAFF = """
from minan.accounts import services
from minan.institutions.models import Institution
home = Institution.objects.get()
user = services.create_user(None, username="duty", display_name="值班员", password="Minan@Bench2026",
                            region=home.region, institution=home, must_change_password=False)
services.grant_role(None, user, "institution_staff")
services.add_scope(None, user, institution=home)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def mosquitto(tmp: Path) -> Iterator[str]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(MOSQUITTO_CONF.format(port=port))
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Deployment:
    env: dict[str, str]
    database_url: str
    ingest: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    others: list[subprocess.Popen[str]] = field(default_factory=list)

    def minan(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([sys.executable, "-m", "minan.cli", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"minan {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start_ingest(self, *extra: str, client_id: str = "") -> subprocess.Popen[str]:
        """Start `minan ingest` (MQTT only) and wait until it is subscribed. Another client id starts a
        second process sharing the subscription."""
        env = {**self.env, "MINAN_MQTT_CLIENT_ID": client_id} if client_id else self.env
        proc = subprocess.Popen(
            [sys.executable, "-m", "minan.cli", "ingest", "--no-gb", "--no-housekeeping", *extra],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        if client_id:
            self.others.append(proc)
        else:
            self.ingest = proc
        connected = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.append(line)
                if "MQTT connected" in line:
                    connected.set()

        threading.Thread(target=read, daemon=True).start()
        if not connected.wait(30):
            raise RuntimeError("minan ingest did not connect:\n" + "".join(self.log[-40:]))
        return proc

    def kill_ingest(self) -> None:
        assert self.ingest is not None
        self.ingest.kill()  # SIGKILL: no clean shutdown, no last acknowledgements
        self.ingest.wait(10)

    def stop_ingest(self) -> None:
        for proc in [self.ingest, *self.others]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(self.database_url.split("sqlite:///", 1)[1]) as conn:
                return conn.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()


@contextmanager
def deployment(tmp: Path, mqtt_url: str, devices: int, *, staff: bool = False) -> Iterator[Deployment]:
    """Migrated database with one institution, `devices` smoke detectors IT-00000… and, with `staff`,
    an on-duty staff member (so fire alarms have someone to notify)."""
    base = os.environ.get("DATABASE_URL", "")
    dropper = None
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"minan_it_{uuid.uuid4().hex[:10]}"
        admin = base.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + "/" + name

        def dropper() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        url = f"sqlite:///{tmp / 'minan.sqlite3'}"
    env = {
        **os.environ,
        "MINAN_ENV": "development",
        "DATABASE_URL": url,
        "MINAN_VAR_DIR": str(tmp),
        "MQTT_URL": mqtt_url,
        "MINAN_MQTT_CLIENT_ID": f"minan-it-{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    deploy = Deployment(env, url)
    try:
        deploy.minan("migrate", "--noinput", "-v0")
        deploy.minan("shell", "-c", SEED.format(devices=devices))
        if staff:
            deploy.minan("shell", "-c", STAFF)
        yield deploy
    finally:
        deploy.stop_ingest()
        if dropper is not None:
            dropper()
