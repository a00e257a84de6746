"""What the institutions app shows on the shared pages: the home page's overview and charts, and the
count of institutions by kind on a region's page."""

from __future__ import annotations

from typing import Any

from minan.core.panels import HomePanel, RegionPanel

from .selectors import home_figures, kinds_in_region


def overview(user: Any) -> dict[str, Any]:
    return {"figures": home_figures(user)}


def charts(user: Any) -> dict[str, Any] | None:
    # Reads the figures the overview panel (always shown, earlier) put into the page.
    return {} if user.has_perm("institutions.view_institution") else None


def in_region(user: Any, region: Any) -> dict[str, Any] | None:
    if not user.has_perm("institutions.view_institution"):
        return None
    return {"institutions_by_kind": kinds_in_region(user, region)}


HOME_PANELS = [
    HomePanel("institutions.overview", "institutions/_home_overview.html", overview, order=10),
    HomePanel("institutions.charts", "institutions/_home_charts.html", charts, order=90),
]

REGION_PANELS = [
    RegionPanel("institutions.by_kind", "institutions/_region_institutions.html", in_region, order=10),
]
