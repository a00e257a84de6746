"""Clearing an alarm by hand: refused while the device still reports the condition,
who and when recorded, audited; from the alarm page and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.firewatch.alarms import services
from minan.firewatch.alarms.services.handling import _local
from minan.firewatch.ingest.services import SignalIn, record_signal, sweep_offline
from minan.firewatch.models import Alarm, AlarmEvent, Device
from minan.firewatch.tests.board_helpers import device, fire

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def sec(n: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=n)


@pytest.fixture
def homes(institutions: dict[str, Any]) -> dict[str, Any]:
    return {"rc": institutions["rc_elderly"], "zc": institutions["zc_elderly"]}


def signal(dev: Device, kind: str, code: str, at: float, value: str = "") -> Any:
    return record_signal(
        Device.objects.get(pk=dev.pk),
        SignalIn(kind, code, value, "MPa" if value else "", at=sec(at)),
        now=sec(at),
    )


def test_refused_while_the_device_still_reports_it_then_cleared_with_who_and_when(
    rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    smoke = device(homes["rc"], heartbeat_seconds=60, grace_seconds=30)
    raised = signal(smoke, "alarm", "fire", 0).alarm
    signal(smoke, "alarm", "fire", 50)  # a repeat: the detector still reports it

    with pytest.raises(DomainError) as refused:
        services.clear(rencheng_officer, raised, now=sec(139))  # 89 s after the last report
    assert refused.value.code == "still_reported"
    assert _local(sec(140)) in refused.value.message  # when it can be cleared
    unchanged = Alarm.objects.get(pk=raised.pk)
    assert (unchanged.cleared_at, unchanged.cleared_by) == (None, None)
    assert not AlarmEvent.objects.filter(alarm=raised, action="cleared").exists()
    assert not AuditEvent.objects.filter(action="alarm.clear").exists()

    services.clear(rencheng_officer, raised, now=sec(140))
    cleared = Alarm.objects.get(pk=raised.pk)
    assert (cleared.cleared_at, cleared.cleared_by) == (sec(140), rencheng_officer)
    assert cleared.acknowledged_at is None and cleared.next_escalation_at is not None  # it still escalates
    assert AlarmEvent.objects.filter(alarm=raised, action="cleared", actor=rencheng_officer).count() == 1
    assert AuditEvent.objects.filter(action="alarm.clear", user=rencheng_officer).count() == 1
    with pytest.raises(DomainError) as again:
        services.clear(rencheng_officer, raised, now=sec(200))
    assert again.value.code == "cleared"

    # A clear cannot be undone: a new trigger opens a new alarm; the cleared one awaits close-out.
    again = signal(smoke, "alarm", "fire", 300)
    assert again.raised and again.alarm is not None and again.alarm.pk != raised.pk
    kept = Alarm.objects.get(pk=raised.pk)
    assert (kept.cleared_at, kept.cleared_by, kept.count, kept.closed_at) == (
        sec(140),
        rencheng_officer,
        2,
        None,
    )
    assert signal(smoke, "alarm", "fire", 310).alarm.pk == again.alarm.pk  # its repeats update the new one


def test_an_offline_alarm_is_refused_while_the_device_is_offline(
    rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    smoke = device(homes["rc"], heartbeat_seconds=60, grace_seconds=30)
    signal(smoke, "event", "boot", 0)
    assert sweep_offline(sec(200)) == 1
    offline = Alarm.objects.get(device=smoke, kind="offline")
    with pytest.raises(DomainError) as refused:
        services.clear(rencheng_officer, offline, now=sec(10_000))
    assert refused.value.code == "still_reported"
    assert refused.value.message == _(
        "The device is still offline; the alarm clears itself when the device is heard from."
    )
    assert Alarm.objects.get(pk=offline.pk).cleared_at is None


def test_a_threshold_alarm_is_refused_while_the_latest_reading_is_outside(
    rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    pump = device(homes["rc"], type="water_pressure", thresholds={"pressure": {"min": 0.1, "for_seconds": 0}})
    raised = signal(pump, "reading", "pressure", 0, "0.05").alarm
    assert raised is not None and raised.kind == "threshold:pressure"
    with pytest.raises(DomainError) as refused:
        services.clear(rencheng_officer, raised, now=sec(86_400))  # a day later: still the last reading
    assert refused.value.code == "still_reported" and "0.05 MPa" in refused.value.message
    # A reading back in range clears it by itself, without a person.
    assert signal(pump, "reading", "pressure", 30, "0.3").cleared == 1
    by_device = Alarm.objects.get(pk=raised.pk)
    assert by_device.cleared_at is not None and by_device.cleared_by is None


def test_without_permission_out_of_scope_or_closed_nothing_changes(
    make_user: Any, rencheng_officer: Any, city_office: Any, tree: dict[str, Any], homes: dict[str, Any]
) -> None:
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])  # may acknowledge, not clear
    mine = signal(device(homes["rc"]), "alarm", "fire", 0).alarm
    theirs = signal(device(homes["zc"]), "alarm", "fire", 0).alarm
    later = sec(86_400)
    with pytest.raises(NotPermitted):
        services.clear(cadre, mine, now=later)
    with pytest.raises(OutOfScope):
        services.clear(rencheng_officer, theirs, now=later)
    assert Alarm.objects.filter(cleared_at__isnull=False).count() == 0
    services.close(
        city_office, mine, "test", {"tested_by": "张三", "maintenance_window": "例行测试"}, now=later
    )
    closed = Alarm.objects.get(pk=mine.pk)
    assert (closed.cleared_at, closed.cleared_by) == (later, city_office)  # closing cleared it
    with pytest.raises(DomainError) as refused:
        services.clear(rencheng_officer, mine, now=later)
    assert refused.value.code == "closed"


def test_the_alarm_page_clears_and_shows_who(
    client: Any, rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    smoke = device(homes["rc"])
    now = timezone.now()
    found = fire(smoke, now)
    page = login_client(client, rencheng_officer)
    url = reverse("firewatch:alarm_clear", args=[found.pk])
    assert (
        f'data-clear="{found.pk}"'
        in page.get(reverse("firewatch:alarm_detail", args=[found.pk])).content.decode()
    )

    refused = page.post(url, follow=True).content.decode()
    reason = services.still_reported(found, timezone.now())
    assert reason and _local(found.last_at + dt.timedelta(seconds=300 + 60)) in reason
    assert escape(reason) in refused
    assert Alarm.objects.get(pk=found.pk).cleared_at is None

    Alarm.objects.filter(pk=found.pk).update(last_at=now - dt.timedelta(hours=1))  # reported an hour ago
    response = page.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("firewatch:alarm_detail", args=[found.pk])
    shown = page.get(response["Location"]).content.decode()
    assert _("Alarm cleared.") in shown and "data-clear=" not in shown
    assert rencheng_officer.display_name in shown.split("data-cleared>")[1].split("</dd>")[0]
    assert Alarm.objects.get(pk=found.pk).cleared_by == rencheng_officer


def test_the_page_without_permission_or_out_of_scope(
    client: Any, make_user: Any, tree: dict[str, Any], rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    long_ago = timezone.now() - dt.timedelta(hours=1)
    mine, theirs = fire(device(homes["rc"]), long_ago), fire(device(homes["zc"]), long_ago)
    page = login_client(client, cadre)
    assert "data-clear=" not in page.get(reverse("firewatch:alarm_detail", args=[mine.pk])).content.decode()
    assert page.post(reverse("firewatch:alarm_clear", args=[mine.pk])).status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied", user=cadre).exists()
    login_client(client, rencheng_officer)
    assert client.post(reverse("firewatch:alarm_clear", args=[theirs.pk])).status_code == 404
    assert Alarm.objects.filter(cleared_at__isnull=False).count() == 0


def test_the_api_clears_and_refuses_with_a_structured_error(
    make_user: Any, tree: dict[str, Any], rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    found = fire(device(homes["rc"]))
    client = APIClient()
    client.force_authenticate(rencheng_officer)
    url = f"/api/v1/alarms/{found.pk}/clear/"
    refused = client.post(url)
    assert refused.status_code == 400 and refused.json()["code"] == "still_reported"
    assert Alarm.objects.get(pk=found.pk).cleared_at is None

    Alarm.objects.filter(pk=found.pk).update(last_at=timezone.now() - dt.timedelta(hours=1))
    done = client.post(url)
    assert done.status_code == 200
    body = done.json()
    assert body["state"] == "cleared_unack" and body["cleared_by"] == rencheng_officer.pk
    assert (
        body["cleared_by_name"] == rencheng_officer.display_name and body["events"][-1]["action"] == "cleared"
    )

    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    other = fire(device(homes["rc"]), timezone.now() - dt.timedelta(hours=1))
    client.force_authenticate(cadre)
    assert client.post(f"/api/v1/alarms/{other.pk}/clear/").status_code == 403
    theirs = fire(device(homes["zc"]), timezone.now() - dt.timedelta(hours=1))
    client.force_authenticate(rencheng_officer)
    assert client.post(f"/api/v1/alarms/{theirs.pk}/clear/").status_code == 404
    assert set(Alarm.objects.filter(cleared_at__isnull=False).values_list("pk", flat=True)) == {found.pk}
