"""The 智慧消防 devices of the Jining demo (deterministic, idempotent).

Fifteen institutions get a realistic set: each county's 社会福利中心, the three 儿童福利院 and 任城区古槐街道敬老院.
Per institution: a fire-alarm control panel and a user information transmission device (GB/T 26875.3,
sharing the transmission device's address), four to eight smoke and heat detectors behind the panel
(components "1:1:<n>"), one or two electrical-fire monitors and a water-pressure sensor (MQTT, with
thresholds), and a combustible gas detector in the kitchen (HTTP push). Serials are "JN-<institution id>-<n>".
Two devices start with a maintenance window. Rows are created directly, like the other demo modules; a
serial that exists is left alone, so running it again adds nothing.

`seed_alarm_history` adds 30 days of closed alarms (so the statistics page and the history have figures
from the start): fire alarms closed as false alarms (with their causes), tests and one fault, faults
and offline spells of fire-system devices closed as faults, each acknowledged after a few minutes, with
their timelines; and two nights of 查岗 at three transmission devices, one left unanswered (the worker
makes it a finding). Only once: it adds nothing if any alarm exists.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db.models import Q
from django.utils import timezone

from minan.accounts.models import User
from minan.institutions.models import Institution

from .ingest.services import severity_of
from .models import Alarm, AlarmEvent, Device, Signal

GB_BASE = 370800_000000  # transmission-device addresses: base + institution id (fits 6 bytes)
PRESSURE = {"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}
ELECTRICAL = {
    "residual_current": {"max": 300, "for_seconds": 30},
    "temperature": {"max": 70, "for_seconds": 60},
}
GAS = {"lel": {"max": 25, "for_seconds": 10}}
VENDORS = [
    "海湾安全技术有限公司",
    "北大青鸟环宇消防设备股份有限公司",
    "泰和安科技股份有限公司",
    "利达华信电子有限公司",
]
FLOOR_ROOMS = ["走廊", "居室", "活动室", "餐厅", "配电室", "护理站", "楼梯间", "库房"]


def demo_institutions() -> list[Institution]:
    return list(
        Institution.objects.filter(
            Q(name__endswith="社会福利中心") | Q(name__endswith="儿童福利院") | Q(name="任城区古槐街道敬老院")
        ).order_by("region_path", "name")[:15]
    )


def _plan(institution: Institution) -> list[dict[str, Any]]:
    """The devices of one institution, in serial order; deterministic from its id."""
    seed = institution.pk
    vendor = VENDORS[seed % len(VENDORS)]
    address = GB_BASE + seed
    rows: list[dict[str, Any]] = [
        {"type": Device.Type.PANEL, "name": "1号楼火灾报警控制器", "building": "1号楼", "floor": "1F",
         "room": "消防控制室", "protocol": Device.Protocol.GB26875, "gb_address": address, "gb_component": "1:1",
         "vendor": vendor, "heartbeat_seconds": 300, "grace_seconds": 120},
        {"type": Device.Type.TRANSMITTER, "name": "用户信息传输装置", "building": "1号楼", "floor": "1F",
         "room": "消防控制室", "protocol": Device.Protocol.GB26875, "gb_address": address, "gb_component": "",
         "vendor": vendor, "heartbeat_seconds": 300, "grace_seconds": 120},
    ]  # fmt: skip
    for n in range(1, 5 + seed % 5):  # 4–8 detectors behind the panel
        floor = 1 + (n - 1) // 3
        rows.append({
            "type": Device.Type.HEAT if n % 4 == 0 else Device.Type.SMOKE,
            "name": f"{floor}F {FLOOR_ROOMS[(n + seed) % len(FLOOR_ROOMS)]}{'感温' if n % 4 == 0 else '烟感'}{n}",
            "building": "1号楼", "floor": f"{floor}F", "room": FLOOR_ROOMS[(n + seed) % len(FLOOR_ROOMS)],
            "protocol": Device.Protocol.GB26875, "gb_address": address, "gb_component": f"1:1:{n}",
            "vendor": vendor, "heartbeat_seconds": 300, "grace_seconds": 120, "panel": "panel",
        })  # fmt: skip
    for n in range(1 + seed % 2):
        rows.append({
            "type": Device.Type.ELECTRICAL, "name": f"电气火灾监控探测器{n + 1}", "building": "1号楼",
            "floor": "1F" if n == 0 else "2F", "room": "配电室" if n == 0 else "配电箱", "protocol": Device.Protocol.MQTT,
            "vendor": "安科瑞电气股份有限公司", "heartbeat_seconds": 120, "grace_seconds": 60, "thresholds": ELECTRICAL,
        })  # fmt: skip
    rows.append({"type": Device.Type.WATER_PRESSURE, "name": "消防水泵房管网压力", "building": "1号楼", "floor": "B1",
                 "room": "消防水泵房", "protocol": Device.Protocol.MQTT, "vendor": "山东汇中消防科技有限公司",
                 "heartbeat_seconds": 120, "grace_seconds": 60, "thresholds": PRESSURE})  # fmt: skip
    rows.append({"type": Device.Type.GAS, "name": "厨房可燃气体探测器", "building": "餐厅", "floor": "1F",
                 "room": "厨房", "protocol": Device.Protocol.HTTP, "vendor": "汉威科技集团股份有限公司",
                 "heartbeat_seconds": 600, "grace_seconds": 300, "thresholds": GAS})  # fmt: skip
    return rows


def seed_devices(stdout: Any = None, *, now: dt.datetime | None = None) -> int:
    """Create the demo devices that are missing; returns how many were created."""
    now = now or timezone.now()
    institutions = demo_institutions()
    created = 0
    for index, institution in enumerate(institutions):
        panel: Device | None = None
        for n, row in enumerate(_plan(institution), start=1):
            serial = f"JN-{institution.pk}-{n}"
            values = {"thresholds": {}, "gb_component": "", **row}
            wants_panel = values.pop("panel", None) == "panel"
            device = Device.objects.filter(serial=serial).first()
            if device is None:
                device = Device.objects.create(
                    institution=institution, region_path=institution.region_path, serial=serial,
                    panel=panel if wants_panel else None, **values,
                )  # fmt: skip
                created += 1
                # Two devices start in maintenance: the pressure sensor of the first institution (pipe
                # work) and the gas detector of the second (kitchen refit).
                if (index, values["type"]) in {(0, Device.Type.WATER_PRESSURE), (1, Device.Type.GAS)}:
                    Device.objects.filter(pk=device.pk).update(
                        maintenance_from=now - dt.timedelta(hours=2),
                        maintenance_until=now + dt.timedelta(days=2),
                        maintenance_reason="消防管网维修" if index == 0 else "厨房改造，燃气暂停",
                    )
            if device.type == Device.Type.PANEL:
                panel = device
    if stdout is not None:
        stdout.write(f"fire devices: {created} created at {len(institutions)} institutions")
    return created


HISTORY_DAYS = 30
FALSE_CAUSES = ["cooking_smoke", "dust", "steam", "insects", "detector_fault", "human"]
FAULTS = ["bus", "detector_removed", "power_fault", "communication"]


def _history(rng: random.Random, devices: list[Device], now: dt.datetime) -> list[dict[str, Any]]:
    """The closed alarms of one institution: (device, kind, classification, detail) with their times."""
    detectors = [d for d in devices if d.type in {Device.Type.SMOKE, Device.Type.HEAT}]
    fire_system = [
        d
        for d in devices
        if d.type in {Device.Type.PANEL, Device.Type.TRANSMITTER, Device.Type.SMOKE, Device.Type.HEAT}
    ]
    rows: list[dict[str, Any]] = []
    for _n in range(rng.randint(1, 4)):  # fire alarms: mostly false, now and then a test
        device = rng.choice(detectors)
        if rng.random() < 0.2:
            rows.append({"device": device, "kind": "fire", "classification": Alarm.Classification.TEST,
                         "detail": {"tested_by": "维保单位 王工", "maintenance_window": "月度联动测试"}})  # fmt: skip
        else:
            cause = rng.choice(FALSE_CAUSES)
            rows.append({"device": device, "kind": "fire", "classification": Alarm.Classification.FALSE,
                         "detail": {"cause": cause, "repair_log": f"维修记录 {rng.randint(100, 999)}：已清洁探测器并复位"}})  # fmt: skip
    for _n in range(rng.randint(0, 2)):  # faults and offline spells of the fire system
        device = rng.choice(fire_system)
        kind = "offline" if rng.random() < 0.4 else "fault"
        rows.append({"device": device, "kind": kind, "classification": Alarm.Classification.FAULT,
                     "detail": {"description": "通信中断，已重启传输装置" if kind == "offline" else f"故障 {rng.choice(FAULTS)}，已更换部件",
                                "maintenance_order": f"WX-{rng.randint(1000, 9999)}"}})  # fmt: skip
    for row in rows:
        first = now - dt.timedelta(days=rng.uniform(1, HISTORY_DAYS))
        row["first_at"] = first
        row["acknowledged_at"] = first + dt.timedelta(
            minutes=rng.uniform(0.5, 6 if row["kind"] == "fire" else 90)
        )
        row["cleared_at"] = row["acknowledged_at"] + dt.timedelta(minutes=rng.uniform(2, 30))
        row["closed_at"] = row["cleared_at"] + dt.timedelta(minutes=rng.uniform(5, 120))
    return rows


def seed_alarm_history(stdout: Any = None, *, now: dt.datetime | None = None) -> int:
    """30 days of closed alarms at the demo institutions (deterministic), unless any alarm exists."""

    if Alarm.objects.exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(2026)
    office = User.objects.filter(username="city_office").first()
    created = 0
    for institution in demo_institutions():
        devices = list(Device.objects.filter(institution=institution).order_by("serial"))
        if not devices:
            continue
        staff = User.objects.filter(institution=institution, is_active=True).first() or office
        for row in _history(rng, devices, now):
            device = row["device"]
            alarm = Alarm.objects.create(
                device=device, institution=institution, region_path=institution.region_path, kind=row["kind"],
                severity=severity_of(device, row["kind"]),
                first_at=row["first_at"], last_at=row["first_at"], acknowledged_at=row["acknowledged_at"],
                acknowledged_by=staff, cleared_at=row["cleared_at"], closed_at=row["closed_at"], closed_by=staff,
                classification=row["classification"], close_detail=row["detail"], escalation_step=1,
            )  # fmt: skip
            events = [
                AlarmEvent(alarm=alarm, action="raised"),
                AlarmEvent(
                    alarm=alarm, action="escalated", data={"step": 1, "notify": ["duty_staff"], "people": 1}
                ),
                AlarmEvent(alarm=alarm, action="acknowledged", actor=staff),
                AlarmEvent(alarm=alarm, action="cleared"),
                AlarmEvent(
                    alarm=alarm, action="closed", actor=staff, data={"classification": row["classification"]}
                ),
            ]
            AlarmEvent.objects.bulk_create(events)
            # The events' own times (auto_now_add) are the run's: put them where they happened.
            for event, at in zip(events, [row["first_at"], row["first_at"], row["acknowledged_at"],
                                          row["cleared_at"], row["closed_at"]], strict=True):  # fmt: skip
                AlarmEvent.objects.filter(pk=event.pk).update(at=at)
            created += 1
    created_checks = _seed_duty_checks(now)
    if stdout is not None:
        stdout.write(
            f"fire alarms: {created} closed alarms of the last {HISTORY_DAYS} days; {created_checks} duty checks (查岗)"
        )
    return created


def _seed_duty_checks(now: dt.datetime) -> int:
    """Two nights of 查岗 at the first institutions' transmission devices: answered at all but one, whose
    miss the worker turns into a finding on its first run (`alarms.services.findings.unanswered_duty_checks`)."""

    transmitters = list(Device.objects.filter(type=Device.Type.TRANSMITTER).order_by("serial")[:3])
    made = 0
    for n, device in enumerate(transmitters):
        for night in (1, 2):
            sent = timezone.localtime(now - dt.timedelta(days=night)).replace(hour=2, minute=10 + n, second=0)
            check = Signal.objects.create(device=device, type=Signal.Type.EVENT, code="duty_check_sent", at=sent,
                                          message_id=f"demo:duty_check:{device.serial}:{night}")  # fmt: skip
            rows = [(check, sent)]
            if not (n == 0 and night == 1):  # last night, nobody answered at the first one
                answer = Signal.objects.create(device=device, type=Signal.Type.EVENT, code="duty_check_answer",
                                               value="1", at=sent + dt.timedelta(minutes=2))  # fmt: skip
                rows.append((answer, sent + dt.timedelta(minutes=2)))
            for signal, at in rows:  # received_at is the run's own time: put it where it happened
                Signal.objects.filter(pk=signal.pk).update(received_at=at)
            made += 1
    return made
