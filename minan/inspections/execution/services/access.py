"""Who may perform an inspection, and the scope an assigned task brings.

`performer_problem` says why someone may not perform an inspection of a kind at an institution (a duty
check by the institution's responsible cadre, a cross inspection by someone from another county, an
expert survey by an active expert of the roster, a self-inspection by the institution's own staff).

Scope an assigned task brings (every read goes through `for_user`): someone from
elsewhere — a cross inspector from another county, an expert — needs the institution in scope to see
it and inspect it. The entry is managed (`UserScope.source` "inspection"): added when the task is assigned
to them, removed when the task ends or goes to someone else, unless another open task still needs it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts import services as accounts
from minan.accounts.models import UserScope
from minan.core.scoping import forget, scope_entries
from minan.duty.models import DutyAssignment
from minan.institutions.models import Institution
from minan.regions.paths import county_of

from ...models import Expert, InspectionTask, Kind


def performer_problem(
    actor: Any, institution: Institution, kind: str, today: dt.date | None = None
) -> str | None:
    """Why the actor may not perform an inspection of this kind at this institution, or None.
    Scope is checked separately (an assigned task brings the institution into the assignee's scope)."""
    today = today or timezone.localdate()
    if not actor.has_perm("inspections.add_inspection"):
        return _("You may not inspect.")
    if kind == Kind.SELF:
        if actor.institution_id != institution.pk:
            return _("A self-inspection is done by the institution's own staff.")
    elif actor.institution_id is not None:
        return _("Institution staff only inspect their own institution (self-inspection).")
    elif kind == Kind.DUTY:
        if not DutyAssignment.objects.filter(institution=institution, cadre=actor, active=True).exists():
            return _("A duty check is done by the institution's responsible cadre.")
    elif kind == Kind.CROSS:
        home = county_of(actor.region.region_path) if actor.region_id else ""
        if not home or home == county_of(institution.region_path):
            return _("A cross inspection is done by an officer of another county.")
    elif kind == Kind.EXPERT:
        expert = Expert.objects.filter(user=actor, active=True).first()
        if expert is None:
            return _("An expert survey is done by an expert of the roster.")
        if expert.valid_until is not None and expert.valid_until < today:
            return _("The expert's qualification expired on %(date)s.") % {"date": expert.valid_until}
    elif kind not in Kind.values:
        return _("Choose a listed inspection kind.")
    return None


def _already_in_scope(user: Any, institution_id: int, region_path: str, kind: str) -> bool:
    return any(
        (entry.institution_id == institution_id)
        or (
            entry.institution_id is None
            and region_path.startswith(entry.region_path or "\0")
            and (not entry.kinds or kind in entry.kinds)
        )
        for entry in scope_entries(user)
    )


def grant(task: InspectionTask) -> None:
    """Give the assignee the task's institution in scope if they do not hold it already."""
    user = task.assignee
    if user is None:
        return
    institution = task.institution
    forget(user)  # read afresh
    if _already_in_scope(user, institution.pk, institution.region_path, institution.kind):
        return
    accounts.grant_derived_scope(user, UserScope.Source.INSPECTION, institution=institution)


def release(task: InspectionTask, user_id: int | None = None) -> None:
    """Remove the managed entry of the task's (former) assignee unless another open task of theirs at
    the same institution still needs it."""
    user_id = user_id or task.assignee_id
    if user_id is None:
        return
    still_needed = (
        InspectionTask.objects.filter(
            assignee_id=user_id,
            institution_id=task.institution_id,
            status__in=[InspectionTask.Status.OPEN, InspectionTask.Status.MISSED],
        )
        .exclude(pk=task.pk)
        .exists()
    )
    if not still_needed:
        accounts.revoke_derived_scope(
            user_id, UserScope.Source.INSPECTION, institution_id=task.institution_id
        )
