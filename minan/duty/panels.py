"""What the 包保 app shows on the shared pages: the home page's tasks and coverage, the institution
page's 包保 tab and its two actions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.core.panels import HomePanel, InstitutionTab
from minan.regions.paths import county_code

from . import selectors, services
from .models import DutyAssignment, DutyVisit, GroupCounty


def home(user: Any) -> dict[str, Any] | None:
    if not user.has_perm("duty.view_dutyassignment"):
        return None
    total, counties = selectors.coverage_figures(user)
    rule = selectors.visit_rule()
    overdue = selectors.overdue_assignments(user, rule=rule)
    return {
        "duty": {
            "total": total,
            "counties": counties,
            "overdue": selectors.visit_schedule(overdue[:10], rule or ""),
            "overdue_count": overdue.count(),
        }
    }


def institution_tab(user: Any, institution: Any) -> dict[str, Any]:
    assignments = DutyAssignment.objects.filter(institution=institution).select_related("cadre")
    return {
        "assignments": assignments,
        "cadres": User.objects.for_user(user).filter(role_grants__role="cadre", is_active=True),
        "can_assign": user.has_perm("duty.add_dutyassignment"),
        "visits": (
            DutyVisit.objects.for_user(user)
            .filter(institution=institution)
            .select_related("cadre")
            .prefetch_related("photos")[:50]
        ),
        "can_visit": any(a.active and a.cadre_id == user.pk for a in assignments),
        "group": (
            GroupCounty.objects.filter(county__code=county_code(institution.region_path), group__active=True)
            .select_related("group__leader")
            .first()
        ),
    }


def assign_cadre(request: HttpRequest, actor: Any, institution: Any, arg: str) -> None:
    cadre = User.objects.for_user(actor).filter(pk=request.POST.get("cadre") or 0).first()
    if cadre is None:
        raise DomainError(_("Choose a cadre inside your scope."))
    services.assign_cadre(actor, institution, cadre, request=request)


def end_duty(request: HttpRequest, actor: Any, institution: Any, arg: str) -> None:
    services.end_assignment(actor, institution, request.POST.get("reason", ""), request=request)


HOME_PANELS = [HomePanel("duty.home", "duty/_home.html", home, order=20)]
INSTITUTION_TABS = [
    InstitutionTab(
        "duty",
        gettext_lazy("Duty"),
        "duty/_institution_tab.html",
        institution_tab,
        order=20,
        actions={"assign-cadre": assign_cadre, "end-duty": end_duty},
    )
]
