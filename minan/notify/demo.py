"""Notifications in the Jining demo: two example channels, switched off (their addresses are
placeholders). Idempotent. (`minan demo-data` then runs the daily reminders once, so inboxes have
content.)"""

from __future__ import annotations

from typing import Any

from minan.regions.models import Region

from .models import Channel


def build(stdout: Any = None) -> None:
    if not Channel.objects.exists():
        city, rencheng = Region.objects.get(code="370800"), Region.objects.get(code="370811")
        Channel.objects.create(
            name="市民政局安全工作群（示例）", kind=Channel.Kind.DINGTALK, region_path=city.region_path,
            url="https://oapi.dingtalk.com/robot/send?access_token=REPLACE-ME", active=False,
            events=["institutions.insurance_expired", "duty.visits_overdue"],
        )  # fmt: skip
        Channel.objects.create(
            name="任城区包保干部群（示例）", kind=Channel.Kind.WECOM, region_path=rencheng.region_path,
            url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REPLACE-ME", active=False,
            events=["duty.visits_overdue"],
        )  # fmt: skip
