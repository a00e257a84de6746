"""Shared start of every benchmark: Django on a throw-away database with the Jining demo loaded.

A throw-away SQLite file under a temporary folder, or DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def start() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MINAN_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minan.settings")
    os.environ.setdefault("MINAN_VAR_DIR", tempfile.mkdtemp(prefix="minan-bench-"))
    import django

    django.setup()


def load_demo() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as sink:
        call_command("demo_data", verbosity=0, stdout=sink)


def timed(fn: Any, repeat: int = 5) -> float:
    """Median wall time of `repeat` runs of fn, in seconds."""
    import statistics
    import time

    samples = []
    for _i in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
