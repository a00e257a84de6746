"""Scope an assigned task brings (every read goes through `for_user`): someone from
elsewhere — a cross inspector from another county, an expert — needs the institution in scope to see
it and inspect it. The entry is managed (`UserScope.source` "inspection"): added when the task is assigned
to them, removed when the task ends or goes to someone else, unless another open task still needs it.
"""

from __future__ import annotations

from typing import Any

from minan.accounts import services as accounts
from minan.accounts.models import UserScope
from minan.core.scoping import forget, scope_entries

from .models import InspectionTask


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
