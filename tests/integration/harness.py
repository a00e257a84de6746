"""A throw-away MinAn deployment for ingest tests and benchmarks: its own Mosquitto, its own database
(a new PostgreSQL database when DATABASE_URL points at PostgreSQL, else an SQLite file), devices, and
`minan ingest` as a real subprocess that can be killed.

The broker runs with the configuration MinAn ships for deployments, deploy/mosquitto/minan.conf
(persistence written every 2 s, bounded queues), with only the listener port, the persistence folder
(under the test's temporary folder), the user (the one running the tests: root in CI, which the broker
would otherwise leave for `mosquitto`) and anonymous access substituted. `Mosquitto` can stop it
(SIGTERM: the broker saves its persistence file), kill it (SIGKILL) and start it again with the same
configuration and persistence, for the broker drills.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
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
SHIPPED_CONF = ROOT / "deploy" / "mosquitto" / "minan.conf"

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


def wait_closed(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.05)
        except OSError:
            return
    raise RuntimeError(f"127.0.0.1:{port} still listens")


def broker_conf(port: int, persistence: Path, **overrides: str) -> str:
    """deploy/mosquitto/minan.conf for a private test broker: listener, persistence folder, user and
    anonymous access substituted, `overrides` (option: value) replacing options of the file. Raises if
    an option to substitute is not in the file, so the file and the tests cannot drift apart."""
    replace = {
        "user": getpass.getuser(),
        "listener": f"{port} 127.0.0.1",
        "allow_anonymous": "true",
        "password_file": "",  # removed
        "persistence_location": f"{persistence}/",
        **overrides,
    }
    lines, seen = [], set()
    for line in SHIPPED_CONF.read_text().splitlines():
        option = line.split(maxsplit=1)[0] if line.strip() and not line.startswith("#") else ""
        if option in replace:
            seen.add(option)
            if replace[option]:
                lines.append(f"{option} {replace[option]}")
            continue
        lines.append(line)
    missing = set(replace) - seen
    if missing:
        raise RuntimeError(f"{SHIPPED_CONF} lacks {', '.join(sorted(missing))}")
    return "\n".join(lines) + "\n"


class Mosquitto:
    """A private broker on a free port with the shipped configuration; it keeps its port and its
    persistence folder across `stop`/`kill` and `start`."""

    def __init__(self, tmp: Path, **overrides: str) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self.binary).exists():
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        self.persistence = tmp / "mosquitto"
        self.persistence.mkdir(exist_ok=True)
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(broker_conf(self.port, self.persistence, **overrides))
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.log = tmp / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=out, stderr=out)
        try:
            wait_port(self.port)
        except RuntimeError:
            raise RuntimeError("mosquitto did not start:\n" + self.log.read_text()[-2000:]) from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: the broker saves its persistence file and ends; SIGKILL: a crash."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.proc.wait(15)
        wait_closed(self.port)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def database(self) -> Path:
        return self.persistence / "mosquitto.db"


@contextmanager
def mosquitto(tmp: Path, **overrides: str) -> Iterator[str]:
    """A private broker with the shipped configuration; yields its URL."""
    with broker(tmp, **overrides) as running:
        yield running.url


@contextmanager
def broker(tmp: Path, **overrides: str) -> Iterator[Mosquitto]:
    running = Mosquitto(tmp, **overrides)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Deployment:
    env: dict[str, str]
    database_url: str
    ingest: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    stamped: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic() when read, line)
    others: list[subprocess.Popen[str]] = field(default_factory=list)

    def minan(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([sys.executable, "-m", "minan.cli", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"minan {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start_ingest(self, *extra: str, client_id: str = "", share_group: str = "") -> subprocess.Popen[str]:
        """Start `minan ingest` (MQTT only) and wait until it is subscribed (the broker's SUBACK). Another client id starts a
        second process; `share_group` sets MINAN_MQTT_SHARE_GROUP (else the default: a plain
        subscription)."""
        env = {**self.env, "MINAN_MQTT_CLIENT_ID": client_id} if client_id else dict(self.env)
        if share_group:
            env["MINAN_MQTT_SHARE_GROUP"] = share_group
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
                self.stamped.append((time.monotonic(), line))
                self.log.append(line)
                if "MQTT subscribed" in line:  # the broker routes messages to it from now on
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
    env.pop("MINAN_MQTT_SHARE_GROUP", None)  # the default unless a test sets it
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
