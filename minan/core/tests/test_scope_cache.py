"""The cache of a user's scope entries is kept in one module: `scope_entries` fills it and `forget`
drops it after a write to the user's scope rows, so no app relies on how it is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import minan
from minan.accounts.models import UserScope
from minan.core import scoping

ROOT = Path(minan.__file__).parent


def test_only_core_scoping_touches_the_cache() -> None:
    found = [
        str(path.relative_to(ROOT.parent))
        for path in sorted(ROOT.rglob("*.py"))
        if path not in (ROOT / "core" / "scoping.py", Path(__file__))
        and "_scope_entries" in path.read_text(encoding="utf-8")
    ]
    assert found == [], f"use core.scoping.forget(user): {found}"


def test_forget_makes_the_next_read_see_a_new_scope_row(rencheng_officer: Any, tree: dict[str, Any]) -> None:
    before = scoping.scope_entries(rencheng_officer)
    assert [e.region_path for e in before] == [tree["rencheng"].region_path]
    UserScope.objects.create(user=rencheng_officer, region=tree["zoucheng"])
    assert scoping.scope_entries(rencheng_officer) == before  # cached for the request
    scoping.forget(rencheng_officer)
    after = [e.region_path for e in scoping.scope_entries(rencheng_officer)]
    assert set(after) == {tree["rencheng"].region_path, tree["zoucheng"].region_path}
