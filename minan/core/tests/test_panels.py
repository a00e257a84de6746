"""The shared-page panels: what apps register is shown in order, to the users it is for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from minan.core import panels
from minan.core.panels import HomePanel, InstitutionTab


@pytest.fixture
def empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panels, "_home_panels", {})
    monkeypatch.setattr(panels, "_institution_tabs", {})


def test_home_panels_in_order_and_only_those_with_something_to_show(empty: None) -> None:
    module = SimpleNamespace(
        HOME_PANELS=[
            HomePanel("b", "b.html", lambda user: {"b": user}, order=20),
            HomePanel("hidden", "x.html", lambda user: None, order=15),
            HomePanel("a", "a.html", lambda user: {"a": 1}, order=10),
        ]
    )
    panels.register(module)
    templates, context = panels.home_panels("someone")
    assert templates == ["a.html", "b.html"]
    assert context == {"a": 1, "b": "someone"}


def test_tabs_sorted_and_actions_found_by_name(empty: None) -> None:
    done: list[Any] = []
    tab = InstitutionTab(
        "t", "T", "t.html", lambda user, inst: {}, order=5, actions={"go": lambda *args: done.append(args)}
    )
    later = InstitutionTab("u", "U", "u.html", lambda user, inst: {}, order=50)
    panels.register(SimpleNamespace(INSTITUTION_TABS=[later, tab]))
    assert [t.key for t in panels.institution_tabs()] == ["t", "u"]
    assert panels.institution_tab("u") is later and panels.institution_tab("missing") is None
    found = panels.institution_action("go")
    assert found is not None and found[0] is tab
    found[1]("request", "actor", "institution", "")
    assert done == [("request", "actor", "institution", "")]
    assert panels.institution_action("unknown") is None


def test_the_installed_apps_register_their_tabs_in_the_page_order() -> None:
    assert [(t.key, t.order) for t in panels.institution_tabs()] == [
        ("duty", 20),
        ("hazards", 40),
        ("inspections", 50),
    ]
    assert set(panels.institution_action("assign-cadre")[0].actions) == {"assign-cadre", "end-duty"}  # type: ignore[index]
