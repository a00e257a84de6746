from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _audit_key_and_anchors(tmp_path: Path, settings: Any) -> Path:
    """Each test gets its own key file and anchor file (the anchor file path is returned)."""
    settings.AUDIT_KEY = ""
    settings.AUDIT_OLD_KEYS = []
    settings.AUDIT_KEY_FILE = tmp_path / "audit.key"
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "audit-anchors.log")
    return tmp_path / "audit-anchors.log"
