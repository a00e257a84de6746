"""record_signal and the offline sweep: liveness, coalesced heartbeats, one open alarm per kind,
inhibition, maintenance, thresholds with a duration, idempotency."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from minan.firewatch.ingest.recorder import DeviceKey, Incoming, Recorder
from minan.firewatch.ingest.services import SignalIn, record_signal, record_signals, sweep_offline
from minan.firewatch.models import Alarm, AlarmEvent, Device, DeviceEvent, Signal

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def sec(n: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=n)


@pytest.fixture
def panel(institutions: dict[str, Any]) -> Device:
    home = institutions["rc_elderly"]
    return Device.objects.create(institution=home, region_path=home.region_path, type="panel", name="1号楼主机",
                                 protocol="gb26875", serial="P-1", heartbeat_seconds=60, grace_seconds=30)  # fmt: skip


@pytest.fixture
def smoke(panel: Device) -> Device:
    return Device.objects.create(institution=panel.institution, region_path=panel.region_path, type="smoke",
                                 name="3F 走廊烟感", protocol="mqtt", serial="S-1", panel=panel,
                                 heartbeat_seconds=60, grace_seconds=30)  # fmt: skip


def fresh(device: Device) -> Device:
    return Device.objects.get(pk=device.pk)


def test_heartbeats_are_coalesced(smoke: Device) -> None:
    record_signal(smoke, SignalIn("heartbeat"), now=sec(0))
    smoke = fresh(smoke)
    assert (smoke.status, smoke.last_signal_at, smoke.offline_after) == ("online", sec(0), sec(90))
    with CaptureQueriesContext(connection) as queries:
        record_signal(smoke, SignalIn("heartbeat"), now=sec(20))
    writes = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert fresh(smoke).last_signal_at == sec(0) and writes == []  # known online and heard from 20 s ago
    record_signal(fresh(smoke), SignalIn("heartbeat"), now=sec(31))
    assert (fresh(smoke).last_signal_at, fresh(smoke).offline_after) == (sec(31), sec(121))
    assert not Signal.objects.exists()  # heartbeats are not history


def test_a_silent_device_goes_offline_once_and_back_online_on_its_next_signal(smoke: Device) -> None:
    record_signal(smoke, SignalIn("heartbeat"), now=sec(0))
    assert sweep_offline(sec(89)) == 0  # period 60 s + grace 30 s
    assert sweep_offline(sec(91)) == 1
    assert sweep_offline(sec(200)) == 0
    assert list(DeviceEvent.objects.values_list("status", "at")) == [("offline", sec(91))]
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.severity, alarm.cleared_at) == ("offline", "major", None)
    outcome = record_signal(fresh(smoke), SignalIn("heartbeat"), now=sec(300))
    assert outcome.came_online and fresh(smoke).status == "online"
    assert list(DeviceEvent.objects.order_by("at").values_list("status", flat=True)) == ["offline", "online"]
    assert Alarm.objects.get().cleared_at == sec(300)
    assert sweep_offline(sec(350)) == 0


def test_one_open_alarm_per_kind_and_a_fire_inhibits_the_panels_faults(smoke: Device, panel: Device) -> None:
    first = record_signal(smoke, SignalIn("alarm", "fire", message_id="m1"), now=sec(0))
    again = record_signal(fresh(smoke), SignalIn("alarm", "fire", message_id="m2"), now=sec(5))
    assert first.raised and not again.raised and first.alarm is not None
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.severity, alarm.count, alarm.first_at, alarm.last_at) == (
        "fire", "critical", 2, sec(0), sec(5),
    )  # fmt: skip
    assert list(AlarmEvent.objects.values_list("action", flat=True)) == ["raised", "escalated", "repeated"]
    # The panel's fault while its detector burns: stored, no alarm (the fire is what matters).
    inhibited = record_signal(panel, SignalIn("fault", "bus"), now=sec(60))
    assert inhibited.stored and inhibited.alarm is None and Alarm.objects.count() == 1
    # Ten minutes (MINAN_FIRE_INHIBITS_FAULTS_SECONDS) after the last fire signal, faults count again.
    later = record_signal(fresh(panel), SignalIn("fault", "bus"), now=sec(606))
    assert later.raised and later.alarm is not None and later.alarm.severity == "major"
    duplicate = record_signal(fresh(smoke), SignalIn("alarm", "fire", message_id="m2"), now=sec(700))
    assert duplicate.duplicate and Signal.objects.filter(message_id="m2").count() == 1
    assert Alarm.objects.get(kind="fire").count == 2
    cleared = record_signal(fresh(smoke), SignalIn("restore", "fire"), now=sec(800))
    assert cleared.cleared == 1 and Alarm.objects.get(kind="fire").closed_at is None  # closing needs a person
    # The detector alarms again after the restore: a new alarm; the cleared one waits for its close-out.
    anew = record_signal(fresh(smoke), SignalIn("alarm", "fire"), now=sec(900))
    assert anew.raised and anew.alarm is not None and anew.alarm.pk != first.alarm.pk
    assert list(Alarm.objects.filter(kind="fire").order_by("pk").values_list("count", "cleared_at")) == [
        (2, sec(800)), (1, None),
    ]  # fmt: skip


def test_a_device_in_maintenance_raises_nothing_but_its_signals_are_kept(smoke: Device) -> None:
    Device.objects.filter(pk=smoke.pk).update(maintenance_from=sec(0), maintenance_until=sec(3600),
                                              maintenance_reason="年度检测")  # fmt: skip
    outcome = record_signal(fresh(smoke), SignalIn("alarm", "fire"), now=sec(100))
    assert outcome.stored and outcome.alarm is None and not Alarm.objects.exists()
    assert Signal.objects.get().in_maintenance is True
    assert record_signal(fresh(smoke), SignalIn("alarm", "fire"), now=sec(3700)).raised


def test_a_threshold_fires_only_after_its_duration(institutions: dict[str, Any]) -> None:
    home = institutions["rc_elderly"]
    pump = Device.objects.create(institution=home, region_path=home.region_path, type="water_pressure", name="喷淋",
                                 protocol="http", serial="W-1",
                                 thresholds={"pressure": {"min": 0.1, "for_seconds": 60}})  # fmt: skip

    def reading(value: str, at: float) -> Any:
        return record_signal(
            fresh(pump), SignalIn("reading", "pressure", value, "MPa", at=sec(at)), now=sec(at)
        )

    assert reading("0.05", 0).alarm is None
    assert reading("0.30", 30).alarm is None  # back up: the run restarts
    assert reading("0.05", 40).alarm is None
    assert reading("0.04", 90).alarm is None  # 50 s below
    raised = reading("0.03", 100)  # 60 s below the floor
    assert raised.raised and raised.alarm is not None
    assert (raised.alarm.kind, raised.alarm.detail["since"]) == ("threshold:pressure", sec(40).isoformat())
    assert reading("0.25", 130).cleared == 1


def test_a_batch_is_recorded_in_few_queries_and_resent_messages_are_duplicates(
    smoke: Device, panel: Device
) -> None:
    batch = [
        (smoke, SignalIn("reading", "temperature", str(20 + n), "℃", message_id=f"t{n}")) for n in range(100)
    ]
    batch += [(panel, SignalIn("heartbeat")), (smoke, SignalIn("event", "door", message_id=None))]
    with CaptureQueriesContext(connection) as queries:
        outcomes = record_signals(batch, now=sec(0))
    assert len(queries) <= 8  # liveness, one INSERT for the plain rows, the transaction
    assert [o.stored for o in outcomes] == [True] * 100 + [False, True]
    assert Signal.objects.count() == 101
    assert (fresh(smoke).status, fresh(panel).status) == ("online", "online")
    again = record_signals(batch[:3] + [(smoke, SignalIn("reading", "temperature", "9", message_id="t-new"))],
                           now=sec(5))  # fmt: skip
    assert [(o.stored, o.duplicate) for o in again] == [(False, True)] * 3 + [(True, False)]
    assert Signal.objects.count() == 102
    assert Signal.objects.get(message_id="t7").value == "27"


def test_an_alarm_sent_twice_in_one_batch_or_again_later_is_raised_once(smoke: Device, panel: Device) -> None:
    fire = SignalIn("alarm", "fire", message_id="f-1")
    first, repeated = record_signals([(smoke, fire), (smoke, SignalIn("alarm", "fire", message_id="f-1"))],
                                     now=sec(0))  # fmt: skip
    assert (first.stored, first.raised, repeated.stored, repeated.duplicate) == (True, True, False, True)
    later = record_signals([(fresh(smoke), SignalIn("alarm", "fire", message_id="f-1"))], now=sec(9))[0]
    assert (later.stored, later.duplicate, later.alarm) == (False, True, None)
    alarm = Alarm.objects.get(device=smoke, kind="fire")
    assert alarm.count == 1
    assert Signal.objects.filter(message_id="f-1").count() == 1
    assert list(AlarmEvent.objects.filter(alarm=alarm).values_list("action", flat=True).order_by("pk")) == [
        "raised",
        "escalated",
    ]


def test_a_fire_alarm_amid_readings_costs_a_bounded_number_of_queries(smoke: Device, panel: Device) -> None:
    device = Device.objects.select_related("institution").get(pk=smoke.pk)  # as the ingest reads it
    batch = [(device, SignalIn("reading", "temperature", "21", message_id=f"r{n}")) for n in range(50)]
    batch.insert(25, (device, SignalIn("alarm", "fire", message_id="fire-1")))
    with CaptureQueriesContext(connection) as queries:
        outcomes = record_signals(batch, now=sec(0))
    assert sum(o.stored for o in outcomes) == 51 and outcomes[25].raised
    # The transaction, liveness, one INSERT for all 51 signals, the alarm (look-up, savepoint, insert,
    # event), its chain and first step, the notification's settings: none per reading, none for the
    # institution (read with the device).
    assert len(queries) <= 15, [q["sql"][:90] for q in queries]
    assert not [q for q in queries if 'FROM "institutions_institution"' in q["sql"]]


def test_urgent_first_commits_the_alarms_before_the_readings_and_keeps_the_results_in_order(
    smoke: Device, panel: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    def item(serial: str, signal: SignalIn) -> Incoming:
        return Incoming(DeviceKey(serial=serial), signal)

    items = [
        item("S-1", SignalIn("reading", "temperature", "21", message_id="r1")),
        item("S-1", SignalIn("alarm", "fire", message_id="a1")),
        item("P-1", SignalIn("heartbeat")),
        item("S-1", SignalIn("restore", "fire", message_id="c1")),
        item("NOPE", SignalIn("alarm", "fire")),
    ]
    order: list[str] = []

    def spy(batch: Any, **kwargs: Any) -> Any:
        order.append(",".join(s.type for _d, s in batch))
        return record_signals(batch, **kwargs)

    monkeypatch.setattr("minan.firewatch.ingest.recorder.record_signals", spy)
    results = Recorder().record(items, now=sec(0), urgent_first=True)
    assert order == ["alarm,restore", "reading,heartbeat"]  # two transactions, alarms first, in order
    assert [r.error for r in results] == ["", "", "", "", "unknown_device"]
    assert results[1].outcome is not None and results[1].outcome.raised
    assert results[3].outcome is not None and results[3].outcome.cleared == 1
    assert results[0].outcome is not None and results[0].outcome.stored
    assert Alarm.objects.get(device=smoke, kind="fire").cleared_at is not None
    assert Signal.objects.filter(message_id__in=["r1", "a1", "c1"]).count() == 3
