"""`minan serve`: the web server (gunicorn) and the Huey worker, supervised by one command.

A child that dies is restarted (with a pause, and at most 5 times a minute); Ctrl-C or SIGTERM stops
them all. The ingest process (`minan ingest`: MQTT when MQTT_URL is set, the GB/T 26875.3 server, the
alarm sweeps) runs next to them unless `--no-ingest`. `--simulate` adds simulated fire-monitoring
devices (HTTP push, and GB/T 26875.3 to the ingest process), started once the web answers and stopped
first; a simulator that keeps failing is dropped, not the platform. Every child runs with DEBUG off
unless DEBUG is set in the environment (the product's own error pages, never Django's debug page).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=child_environment())  # noqa: S603 (our own executables)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()


def child_environment() -> dict[str, str]:
    """The children's environment: DEBUG off unless DEBUG is set explicitly.

    `minan serve` answers real users (the demo included), and Django's debug page would show them the
    settings, paths and URL list on any error; DEBUG on is for `minan runserver` in development.
    """
    env = dict(os.environ)
    env.setdefault("DEBUG", "0")
    return env


def local_url(bind: str) -> str | None:
    """Where this machine reaches the web server bound to `bind` (None for a Unix socket)."""
    if bind.startswith(("unix:", "fd://")):
        return None
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        host, port = bind, "8000"
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104 (not a bind)
    return f"http://{host}:{port}"


def answers(url: str) -> bool:
    """Whether the web server answers HTTP at `url` (any status will do)."""
    try:
        with urllib.request.urlopen(url + "/accounts/login/", timeout=2):  # noqa: S310 (http, built above)
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


# The demo's unregistered GB/T 26875.3 sender (an installer's test unit, say): no device has this address.
DEMO_STRAY_GB_ADDRESS = 990001


class Command(BaseCommand):
    help = "Start the platform: web server, Huey worker and ingest process, supervised together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("MINAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("MINAN_WEB_WORKERS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Huey worker.")
        parser.add_argument("--no-ingest", action="store_true", help="Do not start the ingest process.")
        parser.add_argument("--simulate", action="store_true",
                            help="Also run simulated fire-monitoring devices (HTTP push), once the web answers.")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        # The web process serves the static files from STATIC_ROOT by their hashed names: collect them first
        # (2-3 s), so a new MINAN_VAR_DIR or an upgrade never answers 500 for a missing manifest entry.
        call_command("collectstatic", interactive=False, verbosity=0)
        bin_dir = os.path.dirname(sys.executable)
        children = [
            Child(
                "web",
                [
                    os.path.join(bin_dir, "gunicorn"),
                    "minan.wsgi:application",
                    "--bind",
                    options["bind"],
                    "--workers",
                    str(options["web_workers"]),
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "10",
                ],
            )
        ]
        if not options["no_worker"]:
            children.append(Child("worker", [sys.executable, "-m", "minan.cli", "run_huey", "--quiet"]))
        if not options["no_ingest"]:
            children.append(Child("ingest", [sys.executable, "-m", "minan.cli", "ingest"]))

        # The simulator pushes to the web process, so it starts once the web answers (see the loop).
        simulator: Child | None = None
        web_url = local_url(options["bind"])
        if options["simulate"] and web_url is None:
            self.stderr.write(
                f"--simulate needs a TCP address to push to, not {options['bind']}; no simulator"
            )
        elif options["simulate"]:
            # Every demo device over its own protocol (MQTT ones over HTTP when there is no broker), and a
            # fire alarm at once, so the board shows the alarm path as soon as someone looks; one transmission
            # device nobody registered, so the registry shows an unregistered sender.
            protocol = "all" if not options["no_ingest"] else "http"
            simulator = Child("simulator", [sys.executable, "-m", "minan.cli", "simulate", "--protocol", protocol,
                                            "--devices", "200", "--rate", "2", "--fire-now", "--url", str(web_url),
                                            "--stray-gb", str(DEMO_STRAY_GB_ADDRESS)])  # fmt: skip
        next_probe = 0.0

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for child in children:
            child.start()
        self.stdout.write(f"MinAn is running on http://{options['bind']}/  (Ctrl-C stops it)")
        try:
            while not stopping:
                time.sleep(0.5)
                if simulator is not None and time.monotonic() >= next_probe:
                    next_probe = time.monotonic() + 1
                    if answers(str(web_url)):
                        simulator.start()
                        children.append(simulator)
                        simulator = None
                for child in children:
                    code = child.proc.poll() if child.proc else 0
                    if code is None or stopping:
                        continue
                    now = time.monotonic()
                    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                    if len(child.restarts) > 5 and child.name == "simulator":
                        self.stderr.write(f"the simulator keeps exiting (status {code}); running without it")
                        children.remove(child)
                        break
                    if len(child.restarts) > 5:
                        raise CommandError(f"{child.name} keeps exiting (status {code}); giving up")
                    self.stderr.write(f"{child.name} exited with status {code}; restarting")
                    time.sleep(1)
                    child.start()
        finally:
            # The simulator first, while the web still takes the restores it sends on its way out.
            for child in children:
                if child.name == "simulator" and child.proc is not None:
                    child.stop()
                    try:
                        child.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        child.proc.kill()
            for child in children:
                child.stop()
            deadline = time.monotonic() + 15
            for child in children:
                if child.proc is not None:
                    try:
                        child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        child.proc.kill()
