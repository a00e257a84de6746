"""Refusals are audited in one place: `record_denial` writes every `permission.denied` event (pages
refuse through `core.views.deny`, the API's permission classes through it too), so what a refusal
records — its result, its detail cut to the column — cannot drift between apps."""

from __future__ import annotations

from pathlib import Path

import minan

ROOT = Path(minan.__file__).parent
# The writer itself, and the label the audit pages show for the action.
ALLOWED = {ROOT / "core" / "audit" / "services.py", ROOT / "core" / "audit" / "labels.py"}


def test_permission_denied_is_written_only_by_record_denial() -> None:
    found = [
        str(path.relative_to(ROOT.parent))
        for path in sorted(ROOT.rglob("*.py"))
        if "tests" not in path.parts
        and "migrations" not in path.parts
        and path not in ALLOWED
        and '"permission.denied"' in path.read_text(encoding="utf-8")
    ]
    assert found == [], f"write refusals with audit.services.record_denial (or core.views.deny): {found}"
