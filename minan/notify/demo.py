"""Notifications in the Jining demo: the daily reminders run once (so inboxes have content) and two
example channels, switched off (their addresses are placeholders). Idempotent."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from minan.duty.services import remind_overdue_visits
from minan.institutions.services.registry import remind_expired_policies
from minan.regions.models import Region

from .models import Channel, Notification


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
    if Notification.objects.exists():
        return
    with transaction.atomic():
        policies = remind_expired_policies()
        cadres = remind_overdue_visits()
    if stdout is not None:
        stdout.write(
            f"notifications: {policies} expired policies reminded, {cadres} cadres told of overdue visits"
        )
