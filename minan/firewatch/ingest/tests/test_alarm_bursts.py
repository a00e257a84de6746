"""Alarms raised in bulk: a burst of fire alarms in one transaction costs a constant
number of queries, and a batch recorded at once ends as the same signals recorded one by one would —
dedup, inhibition, maintenance, severity, one active alarm per device and kind, repeats counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from minan.firewatch.ingest import services
from minan.firewatch.ingest.services import SignalIn, raise_alarm, raise_alarms, record_signal, record_signals
from minan.firewatch.models import Alarm, AlarmEvent, Device

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def sec(n: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=n)


def make_devices(home: Any, prefix: str, count: int, kind: str = "smoke", **fields: Any) -> list[Device]:
    made = [
        Device.objects.create(
            institution=home,
            region_path=home.region_path,
            type=kind,
            name=f"{prefix}{n}",
            protocol="mqtt",
            serial=f"{prefix}-{n}",
            heartbeat_seconds=60,
            grace_seconds=30,
            **fields,
        )
        for n in range(count)
    ]
    return list(
        Device.objects.filter(pk__in=[d.pk for d in made]).select_related("institution").order_by("pk")
    )


def test_fire_alarms_in_one_transaction_cost_a_constant_number_of_queries(
    institutions: dict[str, Any], make_user: Any
) -> None:
    home = institutions["rc_elderly"]
    make_user("duty", roles=["institution_staff"], institution=home, scopes=[home])  # someone to notify
    devices = make_devices(home, "F", 32)
    record_signals([(devices[0], SignalIn("alarm", "fire", message_id="warm"))], now=sec(0))  # caches warm

    last: list[dict[str, Any]] = []

    def cost(burst: list[Device], tag: str) -> int:
        batch = [(d, SignalIn("alarm", "fire", message_id=f"{tag}-{d.pk}")) for d in burst]
        with CaptureQueriesContext(connection) as queries:
            outcomes = record_signals(batch, now=sec(1))
        assert all(o.raised for o in outcomes)
        last[:] = queries.captured_queries
        return len(queries)

    one, ten, twenty = cost(devices[1:2], "a"), cost(devices[2:12], "b"), cost(devices[12:32], "c")
    # Liveness, one signal insert, one alarm look-up and insert (in a savepoint), one insert of their
    # events, the chain and its first step, the notifications: not 5 more per alarm as before.
    assert one == ten == twenty, (one, ten, twenty)
    # (19 with the savepoint of the test's own transaction)
    assert one <= 19, "\n".join(q["sql"][:100] for q in last)
    assert Alarm.objects.filter(kind="fire").count() == 32
    assert AlarmEvent.objects.filter(action="escalated").count() == 32


def test_repeats_of_active_alarms_in_one_transaction_cost_a_constant_number_of_queries(
    institutions: dict[str, Any],
) -> None:
    devices = make_devices(institutions["rc_elderly"], "R", 21)
    raise_alarms([(d, "fire", sec(0), None) for d in devices])

    def cost(burst: list[Device]) -> int:
        with CaptureQueriesContext(connection) as queries:
            raised = raise_alarms([(d, "fire", sec(5), {"n": 1}) for d in burst] * 2)
        assert [new for _alarm, new in raised] == [False] * 2 * len(burst)
        return len(queries)

    assert cost(devices[:1]) == cost(devices[1:21]) <= 5  # look-up, update, re-read, events (savepoint-free)
    assert list(Alarm.objects.values_list("count", "last_at", "detail")) == [(3, sec(5), {"n": 1})] * 21


def _scenario(home: Any, prefix: str) -> tuple[dict[str, Device], list[tuple[str, SignalIn]]]:
    panel = make_devices(home, f"{prefix}P", 1, "panel")[0]
    smoke = make_devices(home, f"{prefix}S", 1, "smoke", panel=panel)[0]
    gas = make_devices(home, f"{prefix}G", 1, "gas")[0]
    resting = make_devices(
        home, f"{prefix}M", 1, "smoke", maintenance_from=sec(-60), maintenance_until=sec(600)
    )[0]
    devices = {"panel": panel, "smoke": smoke, "gas": gas, "resting": resting}
    signals = [
        ("gas", SignalIn("alarm", "gas", message_id="g1", extra={"ppm": 20})),
        ("smoke", SignalIn("alarm", "fire", message_id="s1")),
        ("smoke", SignalIn("alarm", "fire", message_id="s2", extra={"zone": 3})),  # a repeat in the run
        ("smoke", SignalIn("alarm", "fire", message_id="s1")),  # the same message again: a duplicate
        ("panel", SignalIn("alarm", "supervisory", message_id="p1")),  # repeats the active one
        ("resting", SignalIn("alarm", "fire", message_id="m1")),  # in maintenance: stored, nothing raised
        ("smoke", SignalIn("fault", "E1", message_id="s3")),  # its panel's detector burns: inhibited
        ("gas", SignalIn("fault", "E2", message_id="g2")),  # raised (major: a gas device)
        ("gas", SignalIn("alarm", "gas", message_id="g3")),
        ("smoke", SignalIn("restore", "fire", message_id="s4")),  # clears the fire alarm
        ("smoke", SignalIn("alarm", "fire", message_id="s5", at=sec(3))),  # a new one after the clear
        ("smoke", SignalIn("alarm", "", message_id="s6")),  # kind "alarm"
        ("panel", SignalIn("alarm", "fire", message_id="p2")),
        ("smoke", SignalIn("alarm", "fire", message_id="s7")),
    ]
    record_signal(panel, SignalIn("alarm", "supervisory", message_id="p0"), now=sec(-30))
    return devices, signals


def _state(devices: dict[str, Device]) -> list[tuple[Any, ...]]:
    names = {d.pk: name for name, d in devices.items()}
    return sorted(
        (names[a.device_id], a.kind, a.severity, a.count, a.first_at, a.last_at, a.detail, a.cleared_at is None,
         tuple(sorted(a.events.values_list("action", flat=True))))
        for a in Alarm.objects.filter(device__in=list(devices.values()))
    )  # fmt: skip


def test_a_batch_recorded_at_once_ends_as_recorded_one_by_one(institutions: dict[str, Any]) -> None:
    home = institutions["rc_elderly"]
    together, signals = _scenario(home, "A")
    apart, _signals = _scenario(home, "B")
    outcomes = record_signals([(together[name], signal) for name, signal in signals], now=sec(1))
    singles = [record_signal(apart[name], signal, now=sec(1)) for name, signal in _signals]

    def summary(outcome: services.Outcome) -> tuple[Any, ...]:
        alarm = outcome.alarm
        return (outcome.stored, outcome.duplicate, outcome.raised, outcome.cleared, alarm and alarm.kind)

    assert [summary(o) for o in outcomes] == [summary(o) for o in singles]
    assert _state(together) == _state(apart)
    assert [o.raised for o in outcomes] == [
        True, True, False, False, False, False, False, True, False, False, True, True, True, False,
    ]  # fmt: skip
    fire = Alarm.objects.get(device=together["smoke"], kind="fire", cleared_at__isnull=True)
    assert (fire.count, fire.first_at, fire.severity) == (2, sec(3), "critical")


def test_an_alarm_opened_meanwhile_by_another_transaction_is_counted_as_a_repeat(
    institutions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_devices(institutions["rc_elderly"], "X", 2)
    severity_of = services.severity_of
    raced: list[bool] = []

    def racing(device: Device, kind: str) -> str:
        if not raced:  # after the look-up, before the insert: another signal of the device commits one
            raced.append(True)
            Alarm.objects.create(device=first, institution_id=first.institution_id, region_path=first.region_path,
                                 kind="fire", severity="critical", first_at=sec(0), last_at=sec(0))  # fmt: skip
        return severity_of(device, kind)

    monkeypatch.setattr(services, "severity_of", racing)
    result = raise_alarms([(first, "fire", sec(1), None), (second, "fire", sec(1), None)])
    assert [new for _alarm, new in result] == [False, True]
    assert list(Alarm.objects.order_by("device_id").values_list("count", "last_at")) == [
        (2, sec(1)),
        (1, sec(1)),
    ]
    assert raise_alarm(second, "fire", sec(2))[1] is False
