"""Rules of the code's shape, checked on the source (the import contracts are in pyproject.toml and run
with `lint-imports` in `make lint`).

Scoped reads: in views, API, forms and selectors a scoped model is read only through
`Model.objects.for_user(user, action)`. A few patterns are safe by construction and accepted without a
listing; anything else is listed below with the reason it may read past the scope.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.apps import apps

from minan.core.scoping import ScopedModel

ROOT = Path(__file__).resolve().parents[2]  # the minan package
READERS = re.compile(r"(views|api|forms|selectors)\.py$")

# (file under minan/, model): why this read may go past the user's scope.
ALLOWED_UNSCOPED = {
    ("accounts/selectors.py", "User"): "who is told about a place (recipients), never shown as a list",
    ("accounts/views.py", "User"): "the second login step reads the account that passed the first",
    ("duty/api.py", "SupervisionGroup"): "re-reads the group just written, to answer with it",
    ("duty/selectors.py", "DutyAssignment"): "recipients (cadres_of) and the 包保 ledger's assignments of "
    "institutions already read through for_user()",
    ("duty/selectors.py", "Commissioner"): "prefetch of the commissioners of scoped institutions",
    ("duty/views.py", "User"): "prefetch of the members of scoped supervision groups",
    ("hazards/criteria/views.py", "Hazard"): "whether any hazard anywhere cites a clause before deleting it",
    (
        "institutions/views.py",
        "InsurancePolicy",
    ): "a policy of the institution already read through for_user()",
    ("notify/selectors.py", "Region"): "the region a channel (already read through for_user()) is for",
    (
        "regions/selectors.py",
        "Region",
    ): "names of regions whose codes came from scoped rows (a name is public)",
    ("public/views.py", "Institution"): "the public page finds its institution by the unguessable code",
}


def scoped_model_names() -> set[str]:
    return {m.__name__ for m in apps.get_models() if issubclass(m, ScopedModel)}


def reader_files() -> list[Path]:
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if READERS.search(p.name) and "tests" not in p.parts and "migrations" not in p.parts
    ]


def _safe(chain: list[ast.AST], node: ast.Attribute) -> bool:
    """`X.objects` in a pattern that cannot read past the scope."""
    parent = chain[-1] if chain else None
    # X.objects.for_user(...) and X.objects.none()
    if isinstance(parent, ast.Attribute) and parent.attr in {"for_user", "none"}:
        return True
    # A correlated subquery (filter(...=OuterRef(...))) runs inside a query that is already scoped.
    if isinstance(parent, ast.Attribute) and parent.attr in {"filter", "exclude"} and len(chain) > 1:
        call = chain[-2]
        if isinstance(call, ast.Call) and any(
            isinstance(n, ast.Name) and n.id == "OuterRef" for n in ast.walk(call)
        ):
            return True
    # `queryset = X.objects.all()` in a class body (a ScopedViewSet names its model; its
    # get_queryset reads through for_user, which the route test checks) or as the queryset of a
    # Scoped*RelatedField, which narrows it to the user's scope.
    if isinstance(parent, ast.Attribute) and parent.attr == "all" and len(chain) > 2:
        holder = chain[-3]
        if isinstance(holder, ast.Assign) and len(chain) > 3 and isinstance(chain[-4], ast.ClassDef):
            return any(isinstance(t, ast.Name) and t.id == "queryset" for t in holder.targets)
        if isinstance(holder, ast.keyword) and holder.arg == "queryset" and len(chain) > 3:
            field = chain[-4]
            return isinstance(field, ast.Call) and "Scoped" in ast.unparse(field.func)
    return False


def unscoped_reads(path: Path, models: set[str]) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, chain: list[ast.AST]) -> None:
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"objects", "_default_manager"}
            and isinstance(node.value, ast.Name)
            and node.value.id in models
            and not _safe(chain, node)
        ):
            found.append((node.value.id, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, [*chain, node])

    visit(ast.parse(path.read_text()), [])
    return found


def test_the_rule_sees_the_readers_and_the_models() -> None:
    assert {"Hazard", "Institution", "Alarm", "Device", "InspectionTask"} <= scoped_model_names()
    assert len(reader_files()) > 30


def test_scoped_models_are_read_through_for_user_in_views_api_forms_and_selectors() -> None:
    models = scoped_model_names()
    unexpected = []
    used = set()
    for path in reader_files():
        rel = path.relative_to(ROOT).as_posix()
        for model, line in unscoped_reads(path, models):
            if (rel, model) in ALLOWED_UNSCOPED:
                used.add((rel, model))
            else:
                unexpected.append(f"minan/{rel}:{line} reads {model}.objects without for_user()")
    assert not unexpected, "\n".join(unexpected)
    assert set(ALLOWED_UNSCOPED) == used, (
        f"allow-list entries no longer needed: {set(ALLOWED_UNSCOPED) - used}"
    )


def test_the_rule_catches_an_unscoped_read(tmp_path: Path) -> None:
    sample = tmp_path / "views.py"
    sample.write_text(
        "class V:\n"
        "    queryset = Hazard.objects.all()\n"  # accepted: names the model
        "    def get(self):\n"
        "        a = Hazard.objects.for_user(self.user)\n"
        "        b = Hazard.objects.filter(pk=1)\n"  # caught
        "        return Hazard.objects.all()\n"  # caught
    )
    assert unscoped_reads(sample, {"Hazard"}) == [("Hazard", 5), ("Hazard", 6)]
