"""Reads of checklists shared by inspections, plans and the demo builders."""

from __future__ import annotations

from ..models import ChecklistTemplate


def current_template(code: str) -> ChecklistTemplate | None:
    """The published version of a checklist family."""
    return ChecklistTemplate.objects.filter(code=code, status=ChecklistTemplate.Status.PUBLISHED).first()
