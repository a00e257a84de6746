"""Gates for tests that need something outside Python: a browser (`browser`) or Redis (`integration`).

Nothing is excluded by default. A gated test runs whenever what it needs is there, and otherwise:

- `browser`: skips with the reason, unless MINAN_REQUIRE_BROWSER=1 is set, then it fails;
- `integration`: skips with the reason, unless CI is set, then it fails.

So a developer without Chromium or Redis gets a clear skip, and CI can never pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (Debian: apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def _redis_missing() -> str | None:
    if not os.environ.get("REDIS_URL"):
        return "REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/15)"
    return None


def _mosquitto_missing() -> str | None:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        return "the mosquitto binary is not installed (Debian: apt-get install mosquitto)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is not None:
        reason = _browser_missing()
        if reason:
            if _truthy("MINAN_REQUIRE_BROWSER"):
                pytest.fail(f"browser test required (MINAN_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
            pytest.skip(f"browser test: {reason}")
    if item.get_closest_marker("integration") is not None:
        reason = _mosquitto_missing() if item.get_closest_marker("mqtt") is not None else _redis_missing()
        if reason:
            if os.environ.get("CI"):
                pytest.fail(f"integration test required in CI but {reason}", pytrace=False)
            pytest.skip(f"integration test: {reason}")
