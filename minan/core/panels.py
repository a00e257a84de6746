"""What each app adds to the pages that gather several apps: the home page, the institution page and the
region page.

Apps register here from `AppConfig.ready()`, so core never imports a domain app and a new app adds its
panel or tab without editing core or the other apps. A context function returns None when
its panel has nothing for this user (no permission, nothing in scope); then the panel is not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise


@dataclass(frozen=True)
class HomePanel:
    key: str
    template: str
    context: Callable[[Any], dict[str, Any] | None]  # (user) -> names the template reads
    order: int


@dataclass(frozen=True)
class InstitutionTab:
    key: str
    label: str | Promise
    template: str
    context: Callable[[Any, Any], dict[str, Any]]  # (user, institution)
    order: int
    # POST actions of the tab, by name: (request, actor, institution, arg); a refusal raises DomainError.
    actions: dict[str, Callable[[Any, Any, Any, str], None]] = field(default_factory=dict)


@dataclass(frozen=True)
class RegionPanel:
    key: str
    template: str
    context: Callable[[Any, Any], dict[str, Any] | None]  # (user, region) -> names the template reads
    order: int


_home_panels: dict[str, HomePanel] = {}
_region_panels: dict[str, RegionPanel] = {}
_institution_tabs: dict[str, InstitutionTab] = {}


def register(panels: Any) -> None:
    """Register what an app's `panels` module lists in HOME_PANELS, INSTITUTION_TABS and REGION_PANELS."""
    for panel in getattr(panels, "HOME_PANELS", ()):
        _home_panels[panel.key] = panel
    for region_panel in getattr(panels, "REGION_PANELS", ()):
        _region_panels[region_panel.key] = region_panel
    for tab in getattr(panels, "INSTITUTION_TABS", ()):
        _institution_tabs[tab.key] = tab


def home_panels(user: Any) -> tuple[list[str], dict[str, Any]]:
    """The templates of the panels this user sees, in order, and the context they read together."""
    templates: list[str] = []
    context: dict[str, Any] = {}
    for panel in sorted(_home_panels.values(), key=lambda p: p.order):
        found = panel.context(user)
        if found is not None:
            templates.append(panel.template)
            context.update(found)
    return templates, context


def region_panels(user: Any, region: Any) -> tuple[list[str], dict[str, Any]]:
    """Like `home_panels`, for the page of one region."""
    templates: list[str] = []
    context: dict[str, Any] = {}
    for panel in sorted(_region_panels.values(), key=lambda p: p.order):
        found = panel.context(user, region)
        if found is not None:
            templates.append(panel.template)
            context.update(found)
    return templates, context


def institution_tabs() -> list[InstitutionTab]:
    return sorted(_institution_tabs.values(), key=lambda t: t.order)


def institution_tab(key: str) -> InstitutionTab | None:
    return _institution_tabs.get(key)


def institution_action(name: str) -> tuple[InstitutionTab, Callable[[Any, Any, Any, str], None]] | None:
    """The registered tab that owns a POST action of the institution page, and the action."""
    for tab in _institution_tabs.values():
        if name in tab.actions:
            return tab, tab.actions[name]
    return None
