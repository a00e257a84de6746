"""The escalation chain with a controllable clock: each step at its time, to its people, stopping on
acknowledgement; close-out needs the GB 25201 detail; uncleared fire-system faults become hazards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.duty.models import DutyAssignment
from minan.firewatch.alarms import services
from minan.firewatch.ingest.services import SignalIn, record_signal, record_signals, sweep_offline
from minan.firewatch.models import Alarm, AlarmEvent, Device, EscalationChain
from minan.hazards.models import Hazard
from minan.institutions.models import Commissioner
from minan.notify.models import Notification, UserSettings

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def people(
    make_user: Callable[..., Any], institutions: dict[str, Any], tree: dict[str, Any]
) -> dict[str, Any]:
    home = institutions["rc_elderly"]
    found = {
        "staff": make_user("duty_staff", roles=["institution_staff"], institution=home),
        "commissioner": make_user("safety_man", roles=["institution_staff"], institution=home),
        "cadre": make_user("cadre", roles=["cadre"], region=tree["rencheng"]),
        "county": make_user("county", roles=["county_officer"], region=tree["rencheng"]),
        "other_county": make_user("zc_county", roles=["county_officer"], region=tree["zoucheng"]),
        "city": make_user("city", roles=["city_safety_office"], region=tree["city"]),
    }
    Commissioner.objects.create(institution=home, region_path=home.region_path, role="safety",
                                user=found["commissioner"])  # fmt: skip
    DutyAssignment.objects.create(institution=home, region_path=home.region_path, cadre=found["cadre"],
                                  starts_on=dt.date(2026, 1, 1))  # fmt: skip
    return found


@pytest.fixture
def smoke(institutions: dict[str, Any]) -> Device:
    home = institutions["rc_elderly"]
    return Device.objects.create(institution=home, region_path=home.region_path, type="smoke", name="3F 走廊烟感",
                                 protocol="mqtt", serial="S-1", heartbeat_seconds=60, grace_seconds=30)  # fmt: skip


def told(event: str = "firewatch.alarm") -> list[str]:
    return sorted(Notification.objects.filter(event=event).values_list("recipient__username", flat=True))


def test_an_unacknowledged_fire_alarm_escalates_at_each_configured_time(
    smoke: Device, people: dict[str, Any]
) -> None:
    outcome = record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    alarm = Alarm.objects.get()
    assert outcome.raised and told() == ["duty_staff", "safety_man"]  # both are staff of the home
    # The safety commissioner is also institution staff here; step 1 names the commissioner alone.
    Notification.objects.all().delete()
    assert (alarm.escalation_step, alarm.next_escalation_at) == (1, at(3))
    assert Notification.objects.filter(urgency="urgent").count() == 0
    assert services.escalate_due(at(2.99)) == 0 and told() == []
    assert services.escalate_due(at(3)) == 1 and told() == ["safety_man"]
    assert services.escalate_due(at(3.5)) == 0  # sent once
    Notification.objects.all().delete()
    assert services.escalate_due(at(8)) == 1 and told() == ["cadre", "county"]  # not the other county
    Notification.objects.all().delete()
    assert services.escalate_due(at(17.9)) == 0
    assert services.escalate_due(at(18)) == 1 and told() == ["city"]
    Notification.objects.all().delete()
    assert services.escalate_due(at(28)) == 1 and told() == ["city"]  # repeated every 10 minutes
    alarm.refresh_from_db()
    assert (alarm.escalation_step, alarm.next_escalation_at) == (5, at(38))
    assert set(Notification.objects.values_list("urgency", flat=True)) == {"urgent"}
    steps = list(AlarmEvent.objects.filter(action="escalated").values_list("data__step", flat=True))
    assert steps == [1, 2, 3, 4, 5]
    # Acknowledging stops the chain.
    services.acknowledge(people["staff"], alarm, now=at(30))
    alarm.refresh_from_db()
    assert (alarm.acknowledged_by, alarm.acknowledged_at, alarm.next_escalation_at) == (
        people["staff"],
        at(30),
        None,
    )
    Notification.objects.all().delete()
    assert services.escalate_due(at(120)) == 0 and told() == []
    assert AuditEvent.objects.filter(action="alarm.acknowledge", user=people["staff"]).count() == 1


def test_acknowledged_at_once_nobody_else_is_told(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    services.acknowledge(people["staff"], Alarm.objects.get(), now=at(1))
    Notification.objects.all().delete()
    for minute in (3, 8, 18, 28, 60):
        assert services.escalate_due(at(minute)) == 0
    assert told() == []


def test_a_late_sweep_tells_everyone_reached_in_one_message(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    Notification.objects.all().delete()
    assert services.escalate_due(at(9)) == 1  # steps 1 and 2 are both due
    assert told() == ["cadre", "county", "safety_man"]
    assert Alarm.objects.get().next_escalation_at == at(18)


def test_an_institutions_own_chain_replaces_the_default(
    smoke: Device, people: dict[str, Any], institutions: dict[str, Any]
) -> None:
    admin = people["city"]
    with pytest.raises(DomainError):
        services.save_chain(admin, "fire", [{"wait_minutes": -1, "notify": ["cadre"]}], 5,
                              institution=institutions["rc_elderly"])  # fmt: skip
    assert not EscalationChain.objects.exists()
    services.save_chain(admin, "fire", [{"wait_minutes": 0, "notify": ["cadre"]},
                                          {"wait_minutes": 1, "notify": ["city_office"]}], 0,
                          institution=institutions["rc_elderly"])  # fmt: skip
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    assert told() == ["cadre"]
    Notification.objects.all().delete()
    assert services.escalate_due(at(1)) == 1 and told() == ["city"]
    assert Alarm.objects.get().next_escalation_at is None  # no repeat
    with pytest.raises(NotPermitted):
        services.save_chain(people["staff"], "fire", [{"wait_minutes": 0, "notify": ["cadre"]}], 0)
    assert AuditEvent.objects.filter(action="escalation_chain.save").count() == 1


def test_a_device_fault_follows_the_slower_chain(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("fault", "bus"), now=at(0))
    alarm = Alarm.objects.get()
    # Not fire: the first step waits a minute for other alarms of the institution (grouping).
    assert (alarm.kind, alarm.severity, alarm.next_escalation_at) == ("fault", "major", at(1))
    assert told() == [] and services.escalate_due(at(0.9)) == 0
    assert services.escalate_due(at(1)) == 1
    assert Alarm.objects.get().next_escalation_at == at(241)
    assert told() == ["duty_staff", "safety_man"]
    assert set(Notification.objects.values_list("urgency", flat=True)) == {"normal"}


def test_close_out_needs_the_classification_and_its_detail(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    alarm = Alarm.objects.get()
    staff = people["staff"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("", {}, "classification"),
        ("false", {"cause": "volcano", "repair_log": "x"}, "cause"),
        ("false", {"cause": "cooking_smoke"}, "repair_log"),
        (
            "real",
            {
                "confirmed_at": "2026-11-20T10:02:00",
                "called_119": "yes",
                "plan_started": True,
                "casualties": "0",
                "losses": "无",
            },
            "called_119_at",
        ),  # fmt: skip
        ("real", {"confirmed_at": "later", "called_119": False}, "confirmed_at"),
        ("test", {"tested_by": "维保公司"}, "maintenance_window"),
        ("fault", {"description": "探头损坏"}, "maintenance_order"),
    ]
    for classification, detail, field in cases:
        with pytest.raises(DomainError) as refused:
            services.close(staff, alarm, classification, detail, now=at(5))
        assert refused.value.field == field
    alarm.refresh_from_db()
    assert (alarm.closed_at, alarm.acknowledged_at, alarm.classification) == (None, None, "")
    services.close(staff, alarm, "false", {"cause": "cooking_smoke", "repair_log": "厨房油烟，已调整探头位置"},
                     now=at(5))  # fmt: skip
    alarm.refresh_from_db()
    assert (alarm.classification, alarm.closed_by, alarm.acknowledged_by, alarm.cleared_at) == (
        "false", staff, staff, at(5),
    )  # fmt: skip
    assert alarm.close_detail == {"cause": "cooking_smoke", "repair_log": "厨房油烟，已调整探头位置"}
    with pytest.raises(DomainError):
        services.close(staff, alarm, "test", {"tested_by": "a", "maintenance_window": "b"})
    # A new trigger opens a new alarm.
    record_signal(Device.objects.get(pk=smoke.pk), SignalIn("alarm", "fire"), now=at(10))
    assert Alarm.objects.filter(closed_at__isnull=True).count() == 1 and Alarm.objects.count() == 2


def test_out_of_scope_and_unpermitted_people_change_nothing(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    alarm = Alarm.objects.get()
    with pytest.raises(OutOfScope):
        services.acknowledge(people["other_county"], alarm)
    with pytest.raises(NotPermitted):
        services.close(people["cadre"], alarm, "test", {"tested_by": "a", "maintenance_window": "b"})
    alarm.refresh_from_db()
    assert (alarm.acknowledged_at, alarm.closed_at) == (None, None)


def test_an_offline_fire_system_device_left_for_24_hours_becomes_one_hazard(
    smoke: Device, people: dict[str, Any]
) -> None:
    record_signal(smoke, SignalIn("heartbeat"), now=at(0))
    assert sweep_offline(at(2)) == 1
    alarm = Alarm.objects.get(kind="offline")
    assert services.fault_hazards(at(2 + 23 * 60)) == 0
    assert services.fault_hazards(at(2 + 24 * 60)) == 1
    assert services.fault_hazards(at(2 + 25 * 60)) == 0  # once
    hazard = Hazard.objects.get()
    alarm.refresh_from_db()
    assert alarm.hazard == hazard
    assert (hazard.source, hazard.category, hazard.institution_id, hazard.source_ref) == (
        "alarm", "fire", smoke.institution_id, f"alarm:{alarm.pk}",
    )  # fmt: skip
    assert hazard.found_by.username == "minan-monitor" and not hazard.found_by.is_active
    assert "S-1" in hazard.description


def test_a_cleared_fault_raises_no_hazard(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("fault", "bus"), now=at(0))
    record_signal(Device.objects.get(pk=smoke.pk), SignalIn("restore", "fault"), now=at(60))
    assert services.fault_hazards(at(48 * 60)) == 0
    assert not Hazard.objects.exists()


def test_a_device_clock_far_off_and_a_late_sweep_cost_one_step_each(
    smoke: Device, people: dict[str, Any]
) -> None:
    # The device says 2012: the alarm runs on the server's clock, its own time is kept in the detail.
    record_signal(smoke, SignalIn("alarm", "fire", at=dt.datetime(2012, 1, 1, tzinfo=dt.UTC)), now=at(0))
    alarm = Alarm.objects.get()
    assert (alarm.first_at, alarm.next_escalation_at) == (at(0), at(3))
    assert alarm.detail["device_time"].startswith("2012-01-01")
    Notification.objects.all().delete()
    assert services.escalate_due(at(3 * 24 * 60)) == 1  # three days later: everyone reached, once
    assert told() == ["cadre", "city", "county", "safety_man"]
    alarm.refresh_from_db()
    # 0, 3, 8, 18 then every 10 minutes: the next repeat after 4320 minutes is at 4328.
    assert alarm.next_escalation_at == at(4328)
    assert AlarmEvent.objects.filter(action="escalated").count() == 2


def test_a_panel_reset_clears_the_alarms_of_its_detectors(
    smoke: Device, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    panel = Device.objects.create(institution=home, region_path=home.region_path, type="panel", name="主机",
                                  protocol="gb26875", serial="P-1")  # fmt: skip
    Device.objects.filter(pk=smoke.pk).update(panel=panel)
    record_signal(Device.objects.get(pk=smoke.pk), SignalIn("alarm", "fire"), now=at(0))
    outcome = record_signal(panel, SignalIn("restore", "reset"), now=at(2))
    assert outcome.cleared == 1 and Alarm.objects.get().cleared_at == at(2)


def _detector(home: Any, serial: str, name: str) -> Device:
    return Device.objects.create(institution=home, region_path=home.region_path, type="smoke", name=name,
                                 protocol="mqtt", serial=serial, heartbeat_seconds=60, grace_seconds=30)  # fmt: skip


def test_alarms_other_than_fire_of_one_institution_go_out_as_one_message(
    people: dict[str, Any], institutions: dict[str, Any], make_user: Callable[..., Any]
) -> None:
    home, other = institutions["rc_elderly"], institutions["zc_elderly"]
    make_user("zc_staff", roles=["institution_staff"], institution=other)
    a, b, c = (_detector(home, f"G-{n}", f"{n}F 烟感") for n in (1, 2, 3))
    elsewhere = _detector(other, "Z-1", "邹城烟感")
    record_signal(a, SignalIn("fault", "bus"), now=at(0))
    record_signal(b, SignalIn("fault", "bus"), now=at(0.5))  # joins the group waiting since 0
    record_signal(elsewhere, SignalIn("fault", "bus"), now=at(0.5))  # another institution: its own group
    assert told("firewatch.alarms") == [] and told() == []
    assert services.escalate_due(at(0.99)) == 0
    assert services.escalate_due(at(1)) == 2  # a and b; the other institution's is due at 1.5
    # One message each to the two institution staff, listing both alarms.
    grouped = Notification.objects.filter(event="firewatch.alarms")
    assert sorted(grouped.values_list("recipient__username", flat=True)) == ["duty_staff", "safety_man"]
    note = grouped.get(recipient=people["staff"])
    assert note.link == f"/firewatch/alarms/?institution={home.pk}&state=open"
    assert "1F 烟感" in note.body and "2F 烟感" in note.body and "邹城" not in note.body
    assert note.subject == "任城区古槐敬老院：2 条报警"  # in the recipient's language (the default)
    assert note.body.splitlines()[:2] == [
        f"#{a.alarms.get().pk} 故障: 1F 烟感, 始于 2026-11-20 10:00:00",
        f"#{b.alarms.get().pk} 故障: 2F 烟感, 始于 2026-11-20 10:00:30",
    ]
    assert told() == []
    assert set(AlarmEvent.objects.filter(action="escalated").values_list("alarm__device__serial", flat=True)) == {
        "G-1", "G-2",
    }  # fmt: skip
    assert services.escalate_due(at(1.5)) == 1
    assert told() == ["zc_staff"]  # alone: the single-alarm message
    # After the group went out, a new alarm starts a new group.
    record_signal(c, SignalIn("fault", "bus"), now=at(2))
    assert Alarm.objects.get(device=c).next_escalation_at == at(3)


def test_an_alarm_cleared_during_the_group_wait_pages_nobody(smoke: Device, people: dict[str, Any]) -> None:
    record_signal(smoke, SignalIn("heartbeat"), now=at(0))
    assert sweep_offline(at(2)) == 1  # offline: first message due at 3
    record_signal(Device.objects.get(pk=smoke.pk), SignalIn("heartbeat"), now=at(2.5))  # back within the wait
    alarm = Alarm.objects.get(kind="offline")
    assert alarm.cleared_at == at(2.5)
    assert services.escalate_due(at(3)) == 0
    assert told() == [] and told("firewatch.alarms") == []
    alarm.refresh_from_db()
    assert alarm.next_escalation_at is None and alarm.escalation_step == 0
    assert list(AlarmEvent.objects.filter(alarm=alarm).values_list("action", flat=True)) == [
        "raised", "cleared", "unpaged",
    ]  # fmt: skip
    assert services.escalate_due(at(600)) == 0  # and never later


def test_fire_is_never_delayed_nor_grouped(
    smoke: Device, people: dict[str, Any], institutions: dict[str, Any]
) -> None:
    second = _detector(institutions["rc_elderly"], "S-2", "4F 烟感")
    signals = [(smoke, SignalIn("alarm", "fire", at=at(0))), (second, SignalIn("alarm", "fire", at=at(0)))]
    outcomes = record_signals(signals, now=at(0))
    assert all(o.raised for o in outcomes)
    # Both alarms raised in one transaction: a message each, at once.
    assert told() == ["duty_staff", "duty_staff", "safety_man", "safety_man"]
    assert told("firewatch.alarms") == []
    assert set(Notification.objects.values_list("link", flat=True)) == {
        f"/firewatch/alarms/{o.alarm.pk}/" for o in outcomes if o.alarm
    }


def test_no_group_wait_sends_other_alarms_at_once(
    smoke: Device, people: dict[str, Any], settings: Any
) -> None:
    settings.ALARM_GROUP_WAIT_SECONDS = 0
    record_signal(smoke, SignalIn("fault", "bus"), now=at(0))
    assert told() == ["duty_staff", "safety_man"]
    assert Alarm.objects.get().next_escalation_at == at(240)


def test_a_large_group_is_one_message_listing_twenty_in_few_queries(
    people: dict[str, Any], institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    for n in range(22):
        record_signal(_detector(home, f"L-{n}", f"烟感{n}"), SignalIn("fault", "bus"), now=at(0))
    with CaptureQueriesContext(connection) as queries:
        assert services.escalate_due(at(1)) == 22
    assert len(queries) <= 16  # not one round of queries per alarm
    note = Notification.objects.get(event="firewatch.alarms", recipient=people["staff"])
    assert note.subject == "任城区古槐敬老院：22 条报警"
    lines = note.body.splitlines()
    assert len([line for line in lines if line.startswith("#")]) == 20 and "另有 2 条" in lines
    assert Notification.objects.count() == 2  # duty_staff and safety_man, once each


def test_without_acknowledgement_expiry_an_acknowledged_alarm_is_quiet(
    smoke: Device, people: dict[str, Any]
) -> None:
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    services.acknowledge(people["commissioner"], Alarm.objects.get(), now=at(1))
    assert Alarm.objects.get().next_escalation_at is None  # the default: off
    Notification.objects.all().delete()
    assert services.escalate_due(at(600)) == 0 and told() == []


def test_an_expired_acknowledgement_reminds_until_the_alarm_is_cleared(
    smoke: Device, people: dict[str, Any], settings: Any
) -> None:
    settings.FIRE_ACK_EXPIRY_MINUTES = 15
    record_signal(smoke, SignalIn("alarm", "fire"), now=at(0))
    services.acknowledge(people["cadre"], Alarm.objects.get(), now=at(2))
    assert Alarm.objects.get().next_escalation_at == at(17)
    Notification.objects.all().delete()
    assert services.escalate_due(at(16)) == 0 and told() == []
    assert services.escalate_due(at(17)) == 1
    # Whoever acknowledged it and the first step's people (the institution's staff), once each.
    assert told() == ["cadre", "duty_staff", "safety_man"]
    note = Notification.objects.filter(recipient=people["cadre"]).get()
    assert f"{people['cadre'].display_name} 于 10:02 确认了该报警，但尚未恢复：请到现场核实。" in note.body
    alarm = Alarm.objects.get()
    assert alarm.next_escalation_at == at(32) and alarm.escalation_step == 1  # the chain did not move on
    assert AlarmEvent.objects.filter(alarm=alarm, action="reminded").count() == 1
    assert services.escalate_due(at(32)) == 1 and len(told()) == 6  # again every 15 minutes
    # Cleared (a restore): no more reminders.
    record_signal(Device.objects.get(pk=smoke.pk), SignalIn("restore", "fire"), now=at(40))
    Notification.objects.all().delete()
    assert services.escalate_due(at(47)) == 0 and told() == []
    assert Alarm.objects.get().next_escalation_at is None
    assert services.escalate_due(at(600)) == 0


def test_acknowledgement_expiry_is_per_kind(smoke: Device, people: dict[str, Any], settings: Any) -> None:
    settings.FIRE_ACK_EXPIRY_MINUTES = 15  # fire only: a fault's acknowledgement does not expire
    record_signal(smoke, SignalIn("fault", "bus"), now=at(0))
    services.acknowledge(people["staff"], Alarm.objects.get(), now=at(1))
    assert Alarm.objects.get().next_escalation_at is None
    settings.ALARM_ACK_EXPIRY_MINUTES = 60
    second = _detector(smoke.institution, "S-9", "9F 烟感")
    record_signal(second, SignalIn("fault", "bus"), now=at(0))
    acked = services.acknowledge(people["staff"], Alarm.objects.get(device=second), now=at(1))
    assert acked.next_escalation_at == at(61)


def test_each_recipient_reads_the_alarm_kind_in_their_own_language(
    smoke: Device, people: dict[str, Any]
) -> None:
    UserSettings.objects.create(user=people["commissioner"], language="en")
    record_signal(smoke, SignalIn("fault", "bus"), now=at(0))
    assert services.escalate_due(at(1)) == 1
    subjects = dict(Notification.objects.values_list("recipient__username", "subject"))
    assert (
        subjects
        == {
            "duty_staff": "【故障】任城区古槐敬老院：3F 走廊烟感",
            "safety_man": "Fault at 任城区古槐敬老院: 3F 走廊烟感",  # was 「故障 at …」: the label in the server's language
        }
    )
