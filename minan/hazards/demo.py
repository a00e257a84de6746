"""Hazards in the Jining demo: some found on duty visits and inspections in the last weeks, at every
stage of the loop — a few overdue, two major ones under supervision. Idempotent."""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.institutions.models import Institution

from . import services
from .models import Clause, Hazard, HazardEvent

FINDINGS = [
    ("fire", "疏散通道堆放杂物", "二楼东侧走廊"),
    ("fire", "灭火器压力不足", "一楼配电室门口"),
    ("electrical", "房间内私拉电线给电动车充电", "3号楼105室"),
    ("gas", "厨房燃气报警器未通电", "食堂操作间"),
    ("service", "卫生间未设扶手，老人如厕有跌倒风险", "2号楼各层卫生间"),
    ("food", "食品留样不足48小时", "食堂留样柜"),
    ("fire", "常闭式防火门处于开启状态", "1号楼楼梯间"),
    ("security", "夜间值班记录缺失", "门卫室"),
]


def _photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(buffer, "JPEG")
    return SimpleUploadedFile("现场照片.jpg", buffer.getvalue(), content_type="image/jpeg")


def build(stdout: Any = None) -> None:
    if Hazard.objects.exists():
        return
    rng = random.Random(2026)  # noqa: S311 (demo data)
    inspector = User.objects.get(username="inspector")
    officer = User.objects.get(username="rencheng")
    homes = list(Institution.objects.filter(region_path__startswith="370000/370800/370811/", status="operating",
                                            kind="elderly_care").order_by("name")[:12])  # fmt: skip
    made = 0
    with transaction.atomic():
        for n, home in enumerate(homes):
            category, text, where = FINDINGS[n % len(FINDINGS)]
            hazard = services.report(inspector, home, source="inspection", category=category, level="general",
                                     description=text, location=where, files=[_photo()])  # fmt: skip
            made += 1
            stage = n % 4
            try:
                if stage >= 1:
                    services.transition(officer, hazard, "assign", requirement="限期整改到位并上传整改照片")
                if stage >= 2:
                    staff = User.objects.filter(institution=home, is_active=True).first()
                    if staff is not None and staff.has_perm("hazards.rectify_hazard"):
                        services.transition(staff, hazard, "start")
                        if n == 6:  # the deadline clock stands still while another department acts
                            pause = services.request_pause(
                                staff, hazard, "等待供电部门改造进线，申请暂停计时"
                            )
                            services.decide_pause(officer, pause, True, "同意，改造完成后恢复计时")
            except DomainError:  # e.g. the working-day calendar of next year is not loaded yet
                continue
            if stage == 3:  # found three weeks ago: now overdue
                _backdate(hazard, days=rng.randrange(15, 25))
        clause = Clause.objects.filter(key="MCA2023-4-3").first()
        if clause is not None and homes:
            major = services.report(inspector, homes[0], source="expert", category="building", level="major",
                                    description="老人居住楼使用易燃夹芯彩钢板搭建", location="3号楼", clause=clause)  # fmt: skip
            made += 1
            try:
                services.transition(officer, major, "assign", days=20, supervisor=officer,
                                    requirement="制定整改方案，落实五落实，拆除彩钢板房")  # fmt: skip
                services.update_plan(officer, major, plan_responsible="院长 及 市政工程公司",
                                     plan_measures="拆除彩钢板房，老人转移至1号楼", plan_funds="35万元，区财政专项")  # fmt: skip
            except DomainError:
                pass
    try:
        escalated = services.escalate_due()
    except DomainError:
        escalated = {}
    if stdout is not None:
        stdout.write(f"hazards: {made} reported, reminders and escalations sent: {escalated}")


def _backdate(hazard: Hazard, days: int) -> None:
    """Demo history only: move a hazard's dates back so that it shows as overdue."""
    shift = dt.timedelta(days=days)
    hazard.refresh_from_db()
    Hazard.objects.filter(pk=hazard.pk).update(
        found_at=hazard.found_at - shift,
        assigned_on=(hazard.assigned_on or timezone.localdate()) - shift,
        deadline=(hazard.deadline or timezone.localdate()) - shift,
    )
    for event in HazardEvent.objects.filter(hazard=hazard):
        HazardEvent.objects.filter(pk=event.pk).update(at=event.at - shift)
