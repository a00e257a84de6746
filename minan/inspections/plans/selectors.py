"""Scoped reads of plans and tasks shared by the pages and the API: the task filters, "my tasks" and
status counts. Callers pass querysets that already went through `for_user`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet

from ..models import InspectionTask, Kind

Status = InspectionTask.Status


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def truthy(value: Any) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def filter_tasks(
    qs: QuerySet[InspectionTask], params: Mapping[str, Any], user: Any
) -> QuerySet[InspectionTask]:
    """The task filters of the list page and the API. Unknown values are ignored.

    status: a status, or `todo` (open or missed); kind; county (or any region) code; plan; institution;
    assignee: a person's id, `me` or `none` (unassigned); due_from / due_to (YYYY-MM-DD, both included);
    missed=1: missed tasks only; unassigned=1: tasks still to do that nobody has."""
    status = str(params.get("status", "") or "")
    if status == "todo":
        qs = qs.filter(status__in=[Status.OPEN, Status.MISSED])
    elif status in Status.values:
        qs = qs.filter(status=status)
    if (kind := params.get("kind")) in Kind.values:
        qs = qs.filter(kind=kind)
    if (region := str(params.get("county", "") or params.get("region", "") or "").strip()).isdigit():
        qs = qs.filter(Q(region_path__startswith=f"{region}/") | Q(region_path__contains=f"/{region}/"))
    if (plan := str(params.get("plan", "") or "").strip()).isdigit():
        qs = qs.filter(plan_id=int(plan))
    if (institution := str(params.get("institution", "") or "").strip()).isdigit():
        qs = qs.filter(institution_id=int(institution))
    assignee = str(params.get("assignee", "") or "").strip()
    if assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if due_from := _date(params.get("due_from")):
        qs = qs.filter(due_on__gte=due_from)
    if due_to := _date(params.get("due_to")):
        qs = qs.filter(due_on__lte=due_to)
    if truthy(params.get("missed")):
        qs = qs.filter(status=Status.MISSED)
    if truthy(params.get("unassigned")):
        qs = qs.filter(assignee__isnull=True, status__in=[Status.OPEN, Status.MISSED])
    return qs.order_by("due_on", "region_path", "id")


def my_tasks(qs: QuerySet[InspectionTask], user: Any) -> QuerySet[InspectionTask]:
    """The tasks the user is to do: assigned to them, and for institution staff their institution's
    self-inspections. Still to do first (by due day), then the rest, newest first."""
    mine = Q(assignee_id=user.pk)
    if user.institution_id:
        mine |= Q(institution_id=user.institution_id, kind=Kind.SELF)
    return qs.filter(mine)


def status_counts(qs: QuerySet[InspectionTask]) -> dict[str, int]:
    """Tasks per status (every status present, zero when none), plus `unassigned` still to do."""
    row = qs.aggregate(
        unassigned=Count("pk", filter=Q(assignee__isnull=True, status__in=[Status.OPEN, Status.MISSED])),
        **{value: Count("pk", filter=Q(status=value)) for value in Status.values},
    )
    return {key: int(value or 0) for key, value in row.items()}


def counts_by_plan(tasks: QuerySet[InspectionTask], plan_ids: list[int]) -> dict[int, dict[str, int]]:
    """Tasks per status for each plan, read from the caller's scoped tasks in one query (a plan's tasks
    outside the reader's scope are not counted)."""
    found: dict[int, dict[str, int]] = {pk: dict.fromkeys(Status.values, 0) for pk in plan_ids}
    rows = (
        tasks.filter(plan_id__in=plan_ids).order_by().values_list("plan_id", "status").annotate(n=Count("pk"))
    )
    for plan_id, status, n in rows:
        found[plan_id][status] = n
    return found
