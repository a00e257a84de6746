"""The live alarm board, acknowledging and closing from the pages, the alarm page and the history."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.firewatch.alarms import kinds, services
from minan.firewatch.ingest.services import SignalIn, record_signal
from minan.firewatch.models import Alarm, AlarmEvent
from minan.firewatch.tests.board_helpers import alarm, device, fire
from minan.hazards.models import Hazard

pytestmark = pytest.mark.django_db


@pytest.fixture
def homes(institutions: dict[str, Any]) -> dict[str, Any]:
    return {"rc": institutions["rc_elderly"], "zc": institutions["zc_elderly"]}


def board(client: Any) -> str:
    return client.get(reverse("firewatch:board")).content.decode()


def row(page: str, pk: int) -> str:
    return page.split(f'id="alarm-{pk}"')[1].split("</tr>")[0]


def test_the_board_shows_open_alarms_in_scope_fire_first(
    client: Any, rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    smoke = device(homes["rc"], name="3F 走廊烟感", building="1号楼", floor="3F", room="301")
    gas = device(homes["rc"], type="gas", name="厨房燃气")
    gas_alarm = alarm(gas, "gas", timezone.now())
    fire_alarm = fire(smoke)
    other = fire(device(homes["zc"], name="邹城烟感"))
    closed = alarm(gas, "fault", timezone.now(), closed_at=timezone.now(), classification="fault")

    page = board(login_client(client, rencheng_officer))
    assert page.index(f'id="alarm-{fire_alarm.pk}"') < page.index(f'id="alarm-{gas_alarm.pk}"')
    assert f'id="alarm-{other.pk}"' not in page and "邹城" not in page  # out of scope
    assert f'id="alarm-{closed.pk}"' not in page
    fire_row = row(page, fire_alarm.pk)
    assert "任城区古槐敬老院" in fire_row and "3F 走廊烟感" in fire_row and "1号楼 3F 301" in fire_row
    assert kinds.alarm_label("fire") in fire_row and _("Unacknowledged") in fire_row
    assert 'data-state="active_unack"' in fire_row and "fire-unack" in fire_row
    assert "data-fire-banner" in page and f'data-fire-unack="{fire_alarm.pk}"' in page
    assert 'hx-trigger="every 1s"' in page and reverse("firewatch:board_fragment") in page
    assert 'data-step="' not in fire_row and '<td data-col="step">1' in fire_row  # step 0 was sent at once


def test_the_four_states_follow_the_acknowledged_and_cleared_flags(
    client: Any, city_office: Any, homes: dict[str, Any]
) -> None:
    now = timezone.now()
    dev = device(homes["rc"])
    states = {
        "active_unack": alarm(dev, "fire", now),
        "active_ack": alarm(dev, "fault", now, acknowledged_at=now, acknowledged_by=city_office),
        "cleared_unack": alarm(dev, "offline", now, cleared_at=now),
        "cleared_ack": alarm(dev, "gas", now, cleared_at=now, acknowledged_at=now),
    }
    page = board(login_client(client, city_office))
    labels = {
        "active_unack": _("Unacknowledged"),
        "active_ack": _("Acknowledged"),
        "cleared_unack": _("Cleared, unacknowledged"),
        "cleared_ack": _("Cleared, acknowledged"),
    }
    for state, found in states.items():
        cells = row(page, found.pk)
        assert f'data-state="{state}"' in cells and labels[state] in cells
    assert city_office.display_name in row(page, states["active_ack"].pk)


def test_the_fragment_answers_204_while_nothing_changes_and_its_queries_are_bounded(
    client: Any, city_office: Any, homes: dict[str, Any]
) -> None:
    login_client(client, city_office)
    url = reverse("firewatch:board_fragment")
    first = client.get(url)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    token = first.content.decode().split('data-token="')[1].split('"')[0]
    assert client.get(url, {"since": token}).status_code == 204

    dev = device(homes["rc"])
    new = fire(dev)
    changed = client.get(url, {"since": token})
    assert changed.status_code == 200 and f'id="alarm-{new.pk}"' in changed.content.decode()
    token = changed.content.decode().split('data-token="')[1].split('"')[0]

    def count(since: str | None) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"since": since} if since else {})
        assert response.status_code in {200, 204}
        return len(queries)

    unchanged, full = count(token), count(None)
    for i in range(15):  # many more alarms and devices: the same number of queries
        alarm(device(homes["rc"], type="heat" if i % 2 else "smoke"), "fault", timezone.now())
    more = client.get(url)
    token = more.content.decode().split('data-token="')[1].split('"')[0]
    assert count(token) == unchanged and count(None) == full
    # session, user, roles, scope, two aggregates (+ the session save of every request); the rows and
    # the device panel only when something changed.
    assert unchanged <= 9 and full <= unchanged + 2, (unchanged, full)

    # Acknowledging changes the token.
    services.acknowledge(city_office, new)
    assert client.get(url, {"since": token}).status_code == 200


def test_acknowledge_stops_the_escalation_and_is_audited(
    client: Any, rencheng_officer: Any, homes: dict[str, Any]
) -> None:
    found = fire(device(homes["rc"]))
    assert found.next_escalation_at is not None and found.escalation_step == 1
    response = login_client(client, rencheng_officer).post(
        reverse("firewatch:alarm_acknowledge", args=[found.pk]), {"next": reverse("firewatch:board")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("firewatch:board")
    found.refresh_from_db()
    assert found.acknowledged_by == rencheng_officer and found.acknowledged_at is not None
    assert found.next_escalation_at is None
    assert AuditEvent.objects.filter(action="alarm.acknowledge", user=rencheng_officer).count() == 1
    assert AlarmEvent.objects.filter(alarm=found, action="acknowledged", actor=rencheng_officer).exists()
    assert services.escalate_due(timezone.now() + dt.timedelta(hours=2)) == 0  # the chain stopped
    cells = row(board(client), found.pk)
    assert 'data-state="active_ack"' in cells and rencheng_officer.display_name in cells
    assert "data-acknowledge" not in cells
    # A second acknowledgement is refused with the reason.
    again = client.post(reverse("firewatch:alarm_acknowledge", args=[found.pk]), follow=True)
    assert _("This alarm is already acknowledged.") in again.content.decode()


def test_acknowledge_without_permission_or_out_of_scope_changes_nothing(
    client: Any, make_user: Any, rencheng_officer: Any, tree: dict[str, Any], homes: dict[str, Any]
) -> None:
    viewer = make_user("viewer", roles=["member_department"], region=tree["rencheng"])
    mine, theirs = fire(device(homes["rc"])), fire(device(homes["zc"]))
    response = login_client(client, viewer).post(reverse("firewatch:alarm_acknowledge", args=[mine.pk]))
    assert response.status_code == 403
    assert Alarm.objects.get(pk=mine.pk).acknowledged_at is None
    assert AuditEvent.objects.filter(action="permission.denied", user=viewer).exists()
    assert "data-acknowledge" not in board(client)  # no button without the permission

    login_client(client, rencheng_officer)
    assert client.post(reverse("firewatch:alarm_acknowledge", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("firewatch:alarm_detail", args=[theirs.pk])).status_code == 404
    assert (
        client.post(
            reverse("firewatch:alarm_close", args=[theirs.pk]), {"classification": "test"}
        ).status_code
        == 404
    )
    assert Alarm.objects.get(pk=theirs.pk).acknowledged_at is None


def close_url(found: Alarm) -> str:
    return reverse("firewatch:alarm_close", args=[found.pk])


def test_close_with_missing_detail_is_refused_next_to_the_field(
    client: Any, city_office: Any, homes: dict[str, Any]
) -> None:
    found = fire(device(homes["rc"]))
    login_client(client, city_office)
    response = client.post(close_url(found), {"classification": "false", "cause": "dust", "repair_log": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-error="repair_log"' in page and _("Enter the repair-log entry.") in page
    response = client.post(close_url(found), {"classification": "real", "called_119": "yes", "plan_started": "no",
                                              "casualties": "0", "losses": "无"})  # fmt: skip
    assert 'data-error="confirmed_at"' in response.content.decode()
    response = client.post(close_url(found), {})
    assert _("Choose how the alarm is classified.") in response.content.decode()
    found.refresh_from_db()
    assert (found.closed_at, found.classification, found.acknowledged_at, found.close_detail) == (
        None,
        "",
        None,
        {},
    )
    assert not AuditEvent.objects.filter(action="alarm.close").exists()


def test_close_a_real_fire_and_a_false_alarm(client: Any, city_office: Any, homes: dict[str, Any]) -> None:
    real, false = fire(device(homes["rc"])), fire(device(homes["rc"]))
    login_client(client, city_office)
    response = client.post(close_url(real), {
        "classification": "real", "confirmed_at": "2026-11-20T10:05", "called_119": "yes",
        "called_119_at": "2026-11-20T10:06", "plan_started": "yes", "casualties": "0", "losses": "窗帘烧毁",
        "note": "已处置",
    })  # fmt: skip
    assert response.status_code == 302
    real.refresh_from_db()
    assert real.classification == "real" and real.closed_by == city_office and real.cleared_at is not None
    assert real.close_detail["called_119"] is True and real.close_detail["casualties"] == 0
    assert real.close_detail["note"] == "已处置" and real.next_escalation_at is None
    page = client.get(reverse("firewatch:alarm_detail", args=[real.pk])).content.decode()
    assert 'data-classification="real"' in page and "窗帘烧毁" in page and "2026-11-20 10:06" in page

    client.post(
        close_url(false), {"classification": "false", "cause": "cooking_smoke", "repair_log": "更换探头"}
    )
    false.refresh_from_db()
    assert false.classification == "false" and false.close_detail == {
        "cause": "cooking_smoke",
        "repair_log": "更换探头",
    }
    assert f'id="alarm-{false.pk}"' not in board(client)  # closed alarms leave the board
    causes = services.false_alarm_causes()
    assert (
        causes["cooking_smoke"]
        in client.get(reverse("firewatch:alarm_detail", args=[false.pk])).content.decode()
    )


def test_close_without_permission_is_denied(
    client: Any, make_user: Any, tree: dict[str, Any], homes: dict[str, Any]
) -> None:
    cadre = make_user("cadre1", roles=["cadre"], region=tree["rencheng"])  # may acknowledge, not close
    found = fire(device(homes["rc"]))
    login_client(client, cadre)
    page = client.get(reverse("firewatch:alarm_detail", args=[found.pk])).content.decode()
    assert "data-close-form" not in page and "data-acknowledge" in page
    response = client.post(
        close_url(found), {"classification": "test", "tested_by": "张三", "maintenance_window": "月检"}
    )
    assert response.status_code == 403
    assert Alarm.objects.get(pk=found.pk).closed_at is None


def test_the_alarm_page_has_the_timeline_and_the_hazard(
    client: Any, city_office: Any, homes: dict[str, Any]
) -> None:
    panel = device(homes["rc"], type="panel", name="主机")
    t0 = timezone.now() - dt.timedelta(hours=30)
    record_signal(panel, SignalIn("fault", "bus"), now=t0)
    found = Alarm.objects.get(device=panel, kind="fault")
    services.escalate_due(t0 + dt.timedelta(minutes=1))  # the first step, after the group wait
    services.escalate_due(t0 + dt.timedelta(hours=5))
    assert services.fault_hazards() == 1
    found.refresh_from_db()
    assert isinstance(found.hazard, Hazard)
    services.acknowledge(city_office, found)
    page = (
        login_client(client, city_office)
        .get(reverse("firewatch:alarm_detail", args=[found.pk]))
        .content.decode()
    )
    timeline = page.split('id="timeline"')[1]
    actions = [part.split('"')[0] for part in timeline.split('data-action="')[1:]]
    assert actions == ["raised", "escalated", "escalated", "hazard", "acknowledged"]
    assert _("Raised") in timeline and _("Became a hazard") in timeline and _("Escalated") in timeline
    assert str(services.RECIPIENTS["safety_commissioner"]) in timeline
    assert (
        f'data-hazard="{found.hazard_id}"' in page
        and reverse("hazards:detail", args=[found.hazard_id]) in page
    )


def test_history_filters_and_export(
    client: Any, city_office: Any, tree: dict[str, Any], homes: dict[str, Any]
) -> None:
    now = timezone.now()
    rc, zc = device(homes["rc"]), device(homes["zc"], type="gas")
    a1 = alarm(
        rc,
        "fire",
        now,
        closed_at=now,
        classification="false",
        close_detail={"cause": "dust", "repair_log": "清洁"},
    )
    a2 = alarm(rc, "threshold:temp", now - dt.timedelta(days=10))  # minor
    a3 = alarm(zc, "gas", now)
    login_client(client, city_office)
    url = reverse("firewatch:alarm_list")

    def listed(**params: str) -> set[int]:
        page = client.get(url, params).content.decode()
        return {int(part.split('"')[0]) for part in page.split('<tr data-alarm="')[1:]}

    assert listed() == {a1.pk, a2.pk, a3.pk}
    assert listed(county=tree["zoucheng"].code) == {a3.pk}
    assert listed(kind="fire") == {a1.pk}
    assert listed(severity="major") == {a3.pk}
    assert listed(state="open") == {a2.pk, a3.pk}
    assert listed(state="closed", classification="false") == {a1.pk}
    assert listed(institution=str(homes["rc"].pk)) == {a1.pk, a2.pk}
    day = timezone.localdate(now - dt.timedelta(days=10)).isoformat()
    assert listed(date_from=day, date_to=day) == {a2.pk}

    response = client.get(reverse("firewatch:alarm_export"), {"kind": "fire"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == a1.pk and rows[1][1] == "任城区古槐敬老院"
    assert AuditEvent.objects.filter(action="export", object_type="firewatch.alarm").count() == 1


def test_the_device_panel_counts_and_links(client: Any, city_office: Any, homes: dict[str, Any]) -> None:
    now = timezone.now()
    home = homes["rc"]
    device(home, status="online")
    device(
        home,
        status="online",
        maintenance_from=now - dt.timedelta(hours=1),
        maintenance_until=now + dt.timedelta(hours=1),
    )
    device(home, status="offline")
    device(home, status="unknown")
    device(home, status="online", active=False)  # out of service: not counted
    page = board(login_client(client, city_office))
    cells = page.split(f'<tr data-institution="{home.pk}">')[1].split("</tr>")[0]
    counts = {
        part.split('"')[0]: part.split("</a>")[0].rsplit(">", 1)[1] for part in cells.split('data-col="')[1:]
    }
    assert counts == {"total": "4", "online": "2", "offline": "1", "unknown": "1", "maintenance": "1"}
    assert f"devices/?institution={home.pk}&amp;active=1&amp;status=offline" in cells
    assert f"devices/?institution={home.pk}&amp;active=1&amp;maintenance=1" in cells


def test_board_needs_the_permission(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    nobody = make_user("nobody", roles=[], region=tree["rencheng"])
    assert login_client(client, nobody).get(reverse("firewatch:board")).status_code == 403
    assert client.get(reverse("firewatch:board_fragment")).status_code == 403
