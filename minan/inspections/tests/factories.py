"""Test data for inspections: a published checklist built directly (the authoring service has its own
tests), and a ready-made institution + people."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from minan.inspections.models import ChecklistItem, ChecklistSection, ChecklistTemplate


def make_template(
    code: str = "fire-daily",
    *,
    version: int = 1,
    status: str = "published",
    items: list[dict[str, Any]] | None = None,
    kinds: list[str] | None = None,
    title: str = "消防每日自查",
) -> ChecklistTemplate:
    """A checklist with one section and the given items (dicts of ChecklistItem fields; `code` and
    `question` are enough). Default: three pass/fail items D01–D03. A shipped checklist (migration
    0002: published v1 of fire-daily, …) that would clash with the new one is removed first."""
    clash = (Q(version=version) | Q(status="published")) if status == "published" else Q(version=version)
    ChecklistTemplate.objects.filter(clash, code=code, created_by=None, inspections=None).delete()
    template = ChecklistTemplate.objects.create(
        code=code, version=version, title=title, status=status, kinds=kinds or []
    )
    section = ChecklistSection.objects.create(template=template, order=1, title="通道与设施")
    for order, fields in enumerate(
        items
        or [
            {"code": "D01", "question": "疏散通道、安全出口畅通，未上锁"},
            {"code": "D02", "question": "灭火器在位，压力指针在绿区", "photo_on_fail": True},
            {"code": "D03", "question": "无室内停放、充电电动车", "major_on_fail": False},
        ],
        start=1,
    ):
        ChecklistItem.objects.create(template=template, section=section, order=order, **fields)
    return template
