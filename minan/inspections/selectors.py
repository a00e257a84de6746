"""Reads of the inspections app for other apps' pages."""

from __future__ import annotations

from typing import Any

from .models import Inspection, InspectionTask

LAST_INSPECTIONS = 30
TASKS = 50


def institution_tab(user: Any, institution: Any) -> dict[str, Any]:
    """The "检查" tab of the institution page: its last inspections and its open and missed tasks, read
    through `for_user` (nothing shows without the view permissions)."""
    inspections = (
        Inspection.objects.for_user(user)
        .filter(institution=institution)
        .exclude(status=Inspection.Status.CANCELLED)
        .select_related("template", "lead")
        .order_by("-started_at", "-id")[:LAST_INSPECTIONS]
    )
    tasks = (
        InspectionTask.objects.for_user(user)
        .filter(
            institution=institution, status__in=[InspectionTask.Status.OPEN, InspectionTask.Status.MISSED]
        )
        .select_related("plan", "assignee")
        .order_by("due_on", "id")[:TASKS]
    )
    return {"inspections": list(inspections), "inspection_tasks": list(tasks)}
