"""What the hazards app shows on the shared pages: the institution page's hazard tab."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy

from minan.core.panels import InstitutionTab

from .models import Hazard
from .selectors import with_overdue


def institution_tab(user: Any, institution: Any) -> dict[str, Any]:
    hazards = Hazard.objects.for_user(user).filter(institution=institution).select_related("cadre")
    return {
        "hazards": with_overdue(hazards, timezone.localdate())[:100],
        "can_report": user.has_perm("hazards.add_hazard"),
    }


INSTITUTION_TABS = [
    InstitutionTab(
        "hazards", gettext_lazy("Hazards"), "hazards/_institution_tab.html", institution_tab, order=40
    )
]
