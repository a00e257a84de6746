"""`minan serve`: the web server (gunicorn) and the Huey worker, supervised by one command.

A child that dies is restarted (with a pause, and at most 5 times a minute); Ctrl-C or SIGTERM stops
them all. Later processes (ingest, simulator) join the PROCESSES table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv)  # noqa: S603 (our own executables)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()


class Command(BaseCommand):
    help = "Start the platform: web server and Huey worker, supervised together."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("MINAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("MINAN_WEB_WORKERS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Huey worker.")

    def handle(self, *args: Any, **options: Any) -> None:
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
                for child in children:
                    code = child.proc.poll() if child.proc else 0
                    if code is None or stopping:
                        continue
                    now = time.monotonic()
                    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                    if len(child.restarts) > 5:
                        raise CommandError(f"{child.name} keeps exiting (status {code}); giving up")
                    self.stderr.write(f"{child.name} exited with status {code}; restarting")
                    time.sleep(1)
                    child.start()
        finally:
            for child in children:
                child.stop()
            deadline = time.monotonic() + 15
            for child in children:
                if child.proc is not None:
                    try:
                        child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        child.proc.kill()
