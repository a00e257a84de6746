"""Rules of the code's shape, checked on the source (the import contracts are in pyproject.toml and run
with `lint-imports` in `make lint`).

Scoped reads: in views, API, forms, selectors and panels a scoped model is read only through
`Model.objects.for_user(user, action)`. A few patterns are safe by construction and accepted without a
listing; anything else is listed below with the reason it may read past the scope.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import grimp
from django.apps import apps

from minan.core.scoping import ScopedModel

ROOT = Path(__file__).resolve().parents[2]  # the minan package
READERS = re.compile(r"(views|api|forms|selectors|panels)\.py$")

# (file under minan/, model): why this read may go past the user's scope.
ALLOWED_UNSCOPED = {
    ("accounts/selectors.py", "User"): "who is told about a place (recipients), never shown as a list",
    ("accounts/views.py", "User"): "the second login step reads the account that passed the first",
    ("duty/api.py", "SupervisionGroup"): "re-reads the group just written, to answer with it",
    ("duty/selectors.py", "DutyAssignment"): "recipients (cadres_of) and the 包保 ledger's assignments of "
    "institutions already read through for_user()",
    ("duty/selectors.py", "Commissioner"): "prefetch of the commissioners of scoped institutions",
    (
        "duty/panels.py",
        "DutyAssignment",
    ): "the assignment history of an institution already read through for_user()",
    ("duty/views/groups.py", "User"): "prefetch of the members of scoped supervision groups",
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
    """views.py, api.py, … and the modules of a views/ (api/, …) package."""
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if (READERS.search(p.name) or READERS.search(f"{p.parent.name}.py"))
        and "tests" not in p.parts
        and "migrations" not in p.parts
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


# --- writers ------------------------------------------------------------------------------------------
# Services are the only writers: outside a module named services.py (or a services/ package), migrations,
# tests and demo builders, no call writes to the database. Calls that look like writes but are not
# (a dict's update, a PDF canvas's save) are told apart by what they are called on; the few writes
# that are not a service's are listed with their reason.

WRITES = {
    "save",
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}
QUERYSET_HINTS = (".objects", "filter(", "exclude(", ".all(", "select_for_update(", "_set.", ".scopes.")
NOT_MODELS = ("session", "cache", "canvas", "workbook", "wb", "storage")
ALLOWED_WRITERS: dict[str, str] = {}


def writer_module(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return (
        path.name == "services.py"
        or "services" in parts
        or "migrations" in parts
        or "tests" in parts
        or path.name.startswith("demo")
        or parts[0] == "demo"
    )


def writes_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES
        ):
            continue
        receiver = ast.unparse(node.func.value)
        on_queryset = any(hint in receiver for hint in QUERYSET_HINTS)
        on_instance = (
            node.func.attr in {"save", "delete"} and not node.args and not receiver.endswith(NOT_MODELS)
        )
        if on_queryset or on_instance:
            found.append(f"{receiver}.{node.func.attr}(…) at line {node.lineno}")
    return found


def test_only_services_write() -> None:
    unexpected = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if writer_module(path) or rel in ALLOWED_WRITERS:
            continue
        unexpected += [f"minan/{rel}: {w}" for w in writes_in(path)]
    assert not unexpected, "\n".join(unexpected)


def test_the_writer_rule_catches_a_write(tmp_path: Path) -> None:
    sample = tmp_path / "views.py"
    sample.write_text(
        "def post(self, request):\n"
        "    context.update(a=1)\n"  # a dict: not a write
        "    Hazard.objects.filter(pk=1).update(status='closed')\n"
        "    hazard.save()\n"
        "    request.session.save()\n"  # the session: not a model
    )
    assert writes_in(sample) == [
        "Hazard.objects.filter(pk=1).update(…) at line 3",
        "hazard.save(…) at line 4",
    ]


# --- imports inside functions ---------------------------------------------------------------------------
# Imports belong at the top of a module, where a reader sees what a module depends on and the import
# contracts see it too. One inside a function needs a reason on the line above or on the same line.

REASON = re.compile(r"#.*\b(cycle|imported here|optional|lazy)\b", re.IGNORECASE)


def function_imports_without_reason(path: Path) -> list[int]:
    """Lines of imports inside functions with no reason on their line or in the comment just above the
    group of imports they belong to."""
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        imports = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
        covered = {line for n in imports for line in range(n.lineno, (n.end_lineno or n.lineno) + 1)}
        for inner in imports:
            if REASON.search(lines[inner.lineno - 1]):
                continue
            above = inner.lineno - 1  # 1-based line just above
            while above in covered or (above > 0 and not lines[above - 1].strip()):
                above -= 1
            if not (
                above > 0 and lines[above - 1].strip().startswith("#") and REASON.search(lines[above - 1])
            ):
                found.append(inner.lineno)
    return sorted(set(found))


def test_imports_inside_functions_say_why() -> None:
    unexpected = []
    for path in sorted(ROOT.rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        unexpected += [
            f"minan/{path.relative_to(ROOT).as_posix()}:{n}" for n in function_imports_without_reason(path)
        ]
    assert not unexpected, "imports inside functions without a reason:\n" + "\n".join(unexpected)


def test_the_import_rule_reads_the_reason_above_a_group(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "def a():\n"
        "    # Imported here: the app registry is not ready at import time.\n"
        "    from minan.core import registry\n"
        "\n"
        "    from . import panels\n"
        "def b():\n"
        "    from minan.core import registry\n"
        "def c():\n"
        "    import psycopg  # optional: only with PostgreSQL\n"
    )
    assert function_imports_without_reason(sample) == [7]


def test_views_open_no_transaction() -> None:
    """A page or API handler calls one service, which owns the transaction; none opens its own."""
    pages = [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if (READERS.search(p.name) or "views" in p.parent.parts[-1:])
        and "tests" not in p.parts
        and "selectors" not in p.name
    ]
    assert len(pages) > 30
    opened = [
        f"minan/{p.relative_to(ROOT).as_posix()}:{n.lineno}"
        for p in pages
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.Attribute)
        and n.attr in {"atomic", "on_commit"}
        and ast.unparse(n.value) == "transaction"
    ]
    assert not opened, opened


def _module_cycles(package: str) -> list[list[str]]:
    """Groups of modules that import each other round in a circle (tests and migrations left out)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    for module in list(graph.modules):
        if ".tests" in module or ".migrations" in module:
            graph.remove_module(module)
    cycles: list[list[str]] = []
    seen: set[str] = set()
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if module in seen:
                break
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.append([module, *chain])
                seen.update(chain)
    return cycles


def test_no_module_imports_itself_round_a_circle() -> None:
    # Between apps the layers contract in pyproject.toml says it; this says it for every module.
    assert _module_cycles("minan") == []


def test_the_cycle_rule_sees_a_cycle(tmp_path: Path, monkeypatch: Any) -> None:
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("from circle import c\n")
    (package / "c.py").write_text("from circle import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert len(_module_cycles("circle")) == 1
