"""What the inspections app shows on the shared pages: the institution page's 检查 tab."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from minan.core.panels import InstitutionTab

from . import selectors

INSTITUTION_TABS = [
    InstitutionTab(
        "inspections",
        gettext_lazy("Inspections"),
        "inspections/_institution_tab.html",
        selectors.institution_tab,
        order=50,
    )
]
