"""What the institutions app shows on the shared pages: the home page's overview and charts."""

from __future__ import annotations

from typing import Any

from minan.core.panels import HomePanel

from .selectors import home_figures


def overview(user: Any) -> dict[str, Any]:
    return {"figures": home_figures(user)}


def charts(user: Any) -> dict[str, Any] | None:
    # Reads the figures the overview panel (always shown, earlier) put into the page.
    return {} if user.has_perm("institutions.view_institution") else None


HOME_PANELS = [
    HomePanel("institutions.overview", "institutions/_home_overview.html", overview, order=10),
    HomePanel("institutions.charts", "institutions/_home_charts.html", charts, order=90),
]
