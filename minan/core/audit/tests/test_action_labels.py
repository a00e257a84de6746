"""Every audit action written anywhere has a label for the audit trail page."""

from __future__ import annotations

import re
from pathlib import Path

from minan.core.audit.labels import ACTION_LABELS

ROOT = Path(__file__).resolve().parents[3]  # the minan package
# record("x.y", ...) and record("x.create" if creating else "x.change", ...)
RECORD = re.compile(r'record\(\s*"([a-z_]+\.[a-z_.]+)"(?:\s+if\s+\w+\s+else\s+"([a-z_]+\.[a-z_.]+)")?')


def test_every_recorded_action_has_a_label() -> None:
    used: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for match in RECORD.finditer(path.read_text(encoding="utf-8")):
            used.update(a for a in match.groups() if a)
    assert len(used) > 30
    assert sorted(used - set(ACTION_LABELS)) == []
