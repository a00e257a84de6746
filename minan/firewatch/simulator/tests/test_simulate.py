"""`minan simulate` over HTTP push against a live server: devices come online, readings are stored, a
forced fire raises one fire alarm that the clean stop restores; tokens are issued once. And the plan's
pacing: the total rate is respected, never at the cost of a device's heartbeat."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

import pytest
from django.utils.translation import gettext

from minan.core.audit.models import AuditEvent
from minan.core.management.commands.serve import local_url
from minan.firewatch.devices import services as device_services
from minan.firewatch.management.commands.simulate import SIMULATOR_USERNAME, Command
from minan.firewatch.models import Alarm, Device, Signal
from minan.firewatch.simulator.json_devices import Plan, SimDevice


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {"rate": 20.0, "fire_every": 0.0, "fire_now": False, "url": url, "gb": None, **extra}


@pytest.fixture
def devices(institutions: dict[str, Any]) -> list[Device]:
    home = institutions["rc_elderly"]

    def make(serial: str, kind: str, **extra: Any) -> Device:
        return Device.objects.create(institution=home, region_path=home.region_path, type=kind, name=serial,
                                     protocol="http", serial=serial, **extra)  # fmt: skip

    return [
        make("SIM-SMOKE", "smoke"),
        make(
            "SIM-PRESSURE",
            "water_pressure",
            thresholds={"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}},
        ),
        make("SIM-GAS", "gas", heartbeat_seconds=120),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_short_http_run_brings_devices_online_and_a_forced_fire_raises_one_alarm(
    live_server: Any, devices: list[Device]
) -> None:
    out = io.StringIO()
    command = Command(stdout=out, stderr=io.StringIO())
    senders = command.simulate(devices, "http", rng=random.Random(7), stop=threading.Event(), duration=2.0,
                               options=options(live_server.url, fire_now=True))  # fmt: skip
    stats = senders["http"].stats
    assert stats.sent > 10 and stats.failed == 0 and stats.confirmed == stats.sent, (stats, out.getvalue())
    assert set(Device.objects.values_list("serial", "status")) == {
        ("SIM-SMOKE", "online"), ("SIM-PRESSURE", "online"), ("SIM-GAS", "online"),
    }  # fmt: skip
    fire = Alarm.objects.get()  # the only alarm: no fault or excursion is due in two seconds
    assert (fire.device.serial, fire.kind, fire.severity) == ("SIM-SMOKE", "fire", "critical")
    assert fire.cleared_at is not None and fire.closed_at is None  # the clean stop restored it
    readings = Signal.objects.filter(device__serial="SIM-PRESSURE", type="reading")
    assert readings.count() >= 3
    assert all(0.1 <= float(v) <= 1.2 for v in readings.values_list("value", flat=True))
    assert not readings.filter(out_of_range=True).exists()
    assert list(Signal.objects.filter(device__serial="SIM-SMOKE").order_by("at", "id").values_list("type", "code")) == [
        ("alarm", "fire"), ("restore", "fire"),
    ]  # fmt: skip
    summary = gettext("%(name)s: sent %(sent)d, confirmed %(ok)d, failed %(failed)d") % {
        "name": "http", "sent": stats.sent, "ok": stats.confirmed, "failed": 0,
    }  # fmt: skip
    assert summary in out.getvalue()

    # Tokens were issued once, by the simulator's own account, and are reused by the next run.
    assert all(device_services.has_credential(d) for d in Device.objects.all())
    issued = AuditEvent.objects.filter(action="device.credential_issue")
    assert issued.count() == 3 and {e.user.username for e in issued} == {SIMULATOR_USERNAME}
    fresh = list(Device.objects.order_by("pk"))
    again = command.simulate(fresh, "http", rng=random.Random(8), stop=threading.Event(), duration=0.5,
                             options=options(live_server.url))  # fmt: skip
    assert again["http"].stats.failed == 0 and again["http"].stats.sent > 0
    assert issued.count() == 3
    assert Alarm.objects.count() == 1


def test_the_plan_keeps_the_total_rate_but_never_starves_a_heartbeat() -> None:
    def fleet() -> list[SimDevice]:
        return [
            SimDevice(serial=f"D{n}", type="smoke", protocol="http", heartbeat_seconds=300) for n in range(30)
        ]

    fast = Plan(fleet(), rate=5.0, fire_every=0, rng=random.Random(1), now=0.0)
    sent = sum(len(items) for t in range(600) for _d, items in fast.due(t / 10))  # 60 s, 10 wakeups a second
    assert 270 <= sent <= 330  # about 5 a second
    slow = Plan(fleet(), rate=0.01, fire_every=0, rng=random.Random(1), now=0.0)
    assert all(d.period <= 300 for d in slow.devices)  # more than asked, rather than offline devices
    assert slow.rate == pytest.approx(30 / 270)


def test_serve_points_its_simulator_at_the_web_address() -> None:
    assert local_url("0.0.0.0:8000") == "http://127.0.0.1:8000"
    assert local_url("10.1.2.3:9000") == "http://10.1.2.3:9000"
    assert local_url("unix:/run/minan.sock") is None
