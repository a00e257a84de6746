"""The board when it fills: its documented order and sections (page, refresh and API alike), the
filters, who may acknowledge, the duty-room screen, a constant number of queries, and human text (no
field keys or codes) on the board and the alarm page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts import roles
from minan.firewatch.alarms import kinds, selectors
from minan.firewatch.models import Alarm, AlarmEvent, Device
from minan.firewatch.tests.board_helpers import alarm, device

pytestmark = pytest.mark.django_db

ALARM_IDS = re.compile(r'data-alarm="(\d+)"')
FIELD_KEY = re.compile(r"[a-z]+_[a-z_]+")


def ago(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


def ids(page: str) -> list[int]:
    """The alarms of a page or fragment, in the order shown."""
    return [int(pk) for pk in ALARM_IDS.findall(page)]


def visible_text(page: str) -> str:
    """The text of the page's <main> (tags and attributes removed)."""
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"<[^>]+>", " ", main.split(">", 1)[1])


def board(client: Any, **params: str) -> str:
    response = client.get(reverse("firewatch:board"), params)
    assert response.status_code == 200
    return response.content.decode()


def fragment(client: Any, **params: str) -> str:
    response = client.get(reverse("firewatch:board_fragment"), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def busy(institutions: dict[str, Any], city_office: Any) -> dict[str, Any]:
    """Open alarms of every section, kind, severity, escalation step and age (one device each), a closed
    one, and the documented order of the open ones."""
    rc, zc = institutions["rc_elderly"], institutions["zc_elderly"]

    def make(home: Any, kind: str, minutes: float, step: int = 0, **fields: Any) -> Alarm:
        dev_type = {"gas": "gas", "fault": "panel", "threshold:pressure": "water_pressure"}.get(kind, "smoke")
        thresholds = {"pressure": {"min": 0.1, "max": 1.2}} if kind == "threshold:pressure" else {}
        dev = device(home, type=dev_type, thresholds=thresholds)
        return alarm(dev, kind, ago(minutes), escalation_step=step, **fields)

    acked = {"acknowledged_at": ago(2), "acknowledged_by": city_office}
    a: dict[str, Alarm] = {
        # awaiting acknowledgement
        "fire_step3_old": make(rc, "fire", 50, 3),
        "fire_step3_new": make(zc, "fire", 10, 3),
        "fire_restored_step2": make(rc, "fire", 30, 2, cleared_at=ago(1)),
        "fire_step1_oldest": make(zc, "fire", 120, 1),
        "gas_step2": make(rc, "gas", 5, 2),
        "fault_step0_old": make(zc, "fault", 300, 0),
        "reading_step5": make(rc, "threshold:pressure", 60, 5, detail={"value": "1.6", "unit": "MPa"}),
        # being handled
        "handled_gas": make(zc, "gas", 60, 1, **acked),
        "handled_fire_new": make(rc, "fire", 20, 1, **acked),
        "handled_fault_older": make(rc, "fault", 90, 0, **acked),
        # restored, awaiting close-out
        "restored_fault_recent": make(zc, "fault", 100, 0, cleared_at=ago(10), **acked),
        "restored_fire": make(rc, "fire", 40, 1, cleared_at=ago(5), **acked),
        "restored_fault_long": make(rc, "fault", 200, 0, cleared_at=ago(40), **acked),
    }
    closed = make(rc, "fire", 15, 1, cleared_at=ago(3), closed_at=ago(3), classification="false", **acked)
    order = [
        "fire_step3_old", "fire_step3_new", "fire_restored_step2", "fire_step1_oldest", "gas_step2",
        "fault_step0_old", "reading_step5",
        "handled_fire_new", "handled_fault_older", "handled_gas",
        "restored_fire", "restored_fault_long", "restored_fault_recent",
    ]  # fmt: skip
    return {"alarms": a, "closed": closed, "order": [a[name].pk for name in order], "rc": rc, "zc": zc}


def test_the_board_page_its_refresh_and_the_api_list_the_documented_order(
    client: Any, city_office: Any, busy: dict[str, Any]
) -> None:
    login_client(client, city_office)
    page = board(client)
    assert ids(page) == busy["order"]
    assert ids(fragment(client)) == busy["order"]
    api = APIClient()
    api.force_authenticate(city_office)
    body = api.get("/api/v1/alarm-board/").json()
    assert [a["id"] for a in body["alarms"]] == busy["order"]
    in_sections = ["unacknowledged"] * 7 + ["handling"] * 3 + ["restored"] * 3
    assert [a["section"] for a in body["alarms"]] == in_sections
    assert busy["closed"].pk not in ids(page)

    # Each section under its heading, with its count.
    sections = page.split('data-section="')[1:]
    assert [s.split('"')[0] for s in sections] == ["unacknowledged", "handling", "restored"]
    assert [len(ids(s)) for s in sections] == [7, 3, 3]
    assert str(selectors.SECTION_LABELS["handling"]) in sections[1]
    # The unacknowledged fire alarms of the banner and the sound, in the board's order.
    fires = [busy["alarms"][n].pk for n in ("fire_step3_old", "fire_step3_new", "fire_restored_step2",
                                            "fire_step1_oldest")]  # fmt: skip
    assert f'data-fire-unack="{",".join(map(str, fires))}"' in page


def test_each_filter_narrows_exactly_and_is_kept_in_the_refresh(
    client: Any, city_office: Any, tree: dict[str, Any], busy: dict[str, Any]
) -> None:
    login_client(client, city_office)
    alarms = {a.pk: a for a in busy["alarms"].values()}
    order = busy["order"]

    def expect(check: Any) -> list[int]:
        return [pk for pk in order if check(alarms[pk])]

    cases = [
        ({"severity": "critical"}, expect(lambda a: a.severity == "critical")),
        ({"severity": "major"}, expect(lambda a: a.severity == "major")),
        ({"severity": "minor"}, expect(lambda a: a.severity == "minor")),
        ({"state": "unacknowledged"}, expect(lambda a: a.acknowledged_at is None)),
        ({"state": "handling"}, expect(lambda a: a.acknowledged_at and a.cleared_at is None)),
        ({"state": "restored"}, expect(lambda a: a.acknowledged_at and a.cleared_at)),
        ({"county": tree["zoucheng"].code}, expect(lambda a: a.institution_id == busy["zc"].pk)),
        (
            {"county": tree["rencheng"].code, "severity": "critical", "state": "unacknowledged"},
            expect(
                lambda a: a.institution_id == busy["rc"].pk and a.kind == "fire" and not a.acknowledged_at
            ),
        ),
        ({"severity": "bogus", "state": "bogus"}, order),  # unknown values are ignored
    ]
    for params, expected in cases:
        assert expected, params
        page = board(client, **params)
        assert ids(page) == expected, params
        assert ids(fragment(client, **params)) == expected, params
        # The refresh asks with the same filters.
        kept = {k: v for k, v in params.items() if v != "bogus"}
        for key, value in kept.items():
            assert f"{key}={value}" in page.split('id="board"')[1].split(">")[0], params

    # The county choices are the counties in scope.
    page = board(client)
    assert f'<option value="{tree["rencheng"].code}">任城区</option>' in page
    assert f'<option value="{tree["zoucheng"].code}">邹城市</option>' in page


def test_a_county_outside_the_scope_is_ignored_and_never_shows_its_alarms(
    client: Any, rencheng_officer: Any, tree: dict[str, Any], busy: dict[str, Any]
) -> None:
    login_client(client, rencheng_officer)
    mine = [pk for pk in busy["order"] if Alarm.objects.get(pk=pk).institution_id == busy["rc"].pk]
    page = board(client, county=tree["zoucheng"].code)
    assert ids(page) == mine and "data-county-refused" in page
    assert ids(fragment(client, county=tree["zoucheng"].code)) == mine
    assert f'value="{tree["zoucheng"].code}"' not in page and "邹城" not in page
    assert "county=" not in page.split('id="board"')[1].split(">")[0]  # the refresh does not ask for it
    assert ids(board(client, county=tree["rencheng"].code)) == mine
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    body = api.get("/api/v1/alarm-board/", {"county": tree["zoucheng"].code}).json()
    assert [a["id"] for a in body["alarms"]] == mine


def test_a_filter_never_hides_an_unacknowledged_fire_alarm_from_the_banner_and_the_sound(
    client: Any, city_office: Any, busy: dict[str, Any]
) -> None:
    login_client(client, city_office)
    page = board(client, severity="major")
    assert "data-fire-banner" in page and 'data-fire-hidden="4"' in page
    fires = Alarm.objects.filter(kind="fire", acknowledged_at__isnull=True).order_by("first_at", "id")
    assert f'data-fire-unack="{",".join(str(a.pk) for a in fires)}"' in page


def test_who_may_acknowledge_is_named_for_a_role_that_may_not(
    client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any], city_office: Any
) -> None:
    home = institutions["rc_elderly"]
    home.contact_name, home.contact_phone = "李院长", "13800000000"
    home.save()
    make_user("duty_li", roles=["institution_staff"], institution=home)
    waiting = alarm(device(home), "fire", ago(5), escalation_step=1)
    handled = alarm(device(home), "gas", ago(5), acknowledged_at=ago(1), acknowledged_by=city_office)
    liaison = make_user("liaison", roles=["member_department"], region=tree["city"])  # 消防救援支队
    assert not liaison.has_perm("firewatch.acknowledge_alarm")

    page = board(login_client(client, liaison))
    row = page.split(f'id="alarm-{waiting.pk}"')[1].split("</tr>")[0]
    holders = [roles.CITY_SAFETY_OFFICE, roles.COUNTY_OFFICER, roles.CADRE, roles.INSTITUTION_STAFF]
    who = "、".join(str(roles.ROLE_LABELS[r]) for r in holders)
    assert "data-acknowledge" not in page and "data-who-acknowledges" in row
    assert _("To be acknowledged by: %(roles)s") % {"roles": who} in row
    assert _("On duty: %(names)s") % {"names": "duty_li"} in row
    assert "李院长" in row and 'href="tel:13800000000"' in row
    assert "data-who-acknowledges" not in page.split(f'id="alarm-{handled.pk}"')[1].split("</tr>")[0]

    for user in (city_office, make_user("cadre1", roles=["cadre"], region=tree["rencheng"])):
        page = board(login_client(client, user))
        row = page.split(f'id="alarm-{waiting.pk}"')[1].split("</tr>")[0]
        assert f'data-acknowledge="{waiting.pk}"' in row and "data-who-acknowledges" not in page


def test_the_duty_room_screen_is_the_same_board_with_the_same_scope(
    client: Any, rencheng_officer: Any, busy: dict[str, Any]
) -> None:
    login_client(client, rencheng_officer)
    mine = ids(board(client))
    theirs = [pk for pk in busy["order"] if pk not in mine]
    assert mine and theirs
    wall = board(client, mode="wall")
    assert ids(wall) == mine and not set(theirs) & set(ids(wall))
    assert "data-wall-clock" in wall and 'id="nav"' not in wall and 'class="wall"' in wall
    assert f'href="{reverse("firewatch:board")}" data-wall-exit' in wall  # the way back
    assert "mode=wall" in wall.split('id="board"')[1].split(">")[0]  # its refresh stays on the wall
    assert f'value="{reverse("firewatch:board")}?mode=wall"' in wall  # and so does acknowledging
    assert "data-sound-toggle" in wall and "minan/firewatch.js" in wall
    assert ids(fragment(client, mode="wall")) == mine
    filtered = board(client, mode="wall", severity="critical")
    assert ids(filtered) == [pk for pk in mine if Alarm.objects.get(pk=pk).severity == "critical"]
    assert "data-wall-link" in board(client) and "data-wall-link" not in wall


def test_the_board_costs_the_same_queries_with_3_and_with_30_alarms(
    client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any], city_office: Any
) -> None:
    liaison = make_user("liaison", roles=["member_department"], region=tree["city"])
    homes = [institutions["rc_elderly"], institutions["zc_elderly"], institutions["zc_child"]]
    for home in homes:
        make_user(f"staff{home.pk}", roles=["institution_staff"], institution=home)

    def add(n: int) -> None:
        for i in range(n):
            home = homes[i % 3]
            kind = ["fire", "gas", "fault"][i % 3]
            fields = {"acknowledged_at": ago(1), "acknowledged_by": city_office} if i % 4 == 0 else {}
            if i % 5 == 0:
                fields["cleared_at"] = ago(1)
            alarm(
                device(home, type={"gas": "gas", "fault": "panel"}.get(kind, "smoke")), kind, ago(i), **fields
            )

    def count(user: Any, url: str, params: dict[str, str]) -> int:
        login_client(client, user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, params).status_code == 200
        return len(queries)

    urls = [reverse("firewatch:board"), reverse("firewatch:board_fragment")]
    variants = [{}, {"mode": "wall"}, {"county": tree["zoucheng"].code, "severity": "critical"}]
    add(3)
    few = {
        (u.pk, url, str(p)): count(u, url, p)
        for u in (city_office, liaison)
        for url in urls
        for p in variants
    }
    add(27)
    assert Alarm.objects.count() == 30
    many = {
        (u.pk, url, str(p)): count(u, url, p)
        for u in (city_office, liaison)
        for url in urls
        for p in variants
    }
    assert many == few


def test_human_text_on_the_board_and_the_alarm_page(
    client: Any, city_office: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    monitor = device(home, type="electrical", name="配电室电气火灾探测器", building="1号楼", floor="1F", room="配电室",
                     thresholds={"residual_current": {"max": 300, "for_seconds": 30}})  # fmt: skip
    since = ago(12)
    reading = alarm(monitor, "threshold:residual_current", ago(10),
                    detail={"value": "412", "unit": "mA", "since": since.isoformat()})  # fmt: skip
    AlarmEvent.objects.create(alarm=reading, action="raised", data=reading.detail)
    panel = device(home, type="panel", name="火灾报警控制器")
    fault = alarm(panel, "fault", ago(8), detail={"code": "bus", "component_zone": 1, "component_point": 6,
                                                  "description": "2F走廊", "adu_type": 2, "raw": "0102"})  # fmt: skip
    odd = alarm(device(home, type="other"), "smoke_high", ago(3), detail={"code": "E07"})
    login_client(client, city_office)

    page = board(client)
    text = visible_text(page)
    assert not FIELD_KEY.findall(text), FIELD_KEY.findall(text)
    assert "{" not in text and "经纬度" not in page
    location = pgettext("place in a building", "Location")
    assert location == "位置" and location in page.split(f'id="alarm-{reading.pk}"')[1].split("</tr>")[0]
    assert "剩余电流超限" in text and "412 mA（不高于 300 mA）" in text
    assert "总线故障" in text and "其他报警" in text and "超阈值" not in text

    detail = client.get(reverse("firewatch:alarm_detail", args=[reading.pk])).content.decode()
    text = visible_text(detail)
    assert not FIELD_KEY.findall(text) and "{" not in text and "经纬度" not in detail
    assert f"<dt>{location}</dt><dd>1号楼 1F 配电室</dd>" in detail
    local_since = timezone.localtime(since).strftime("%Y-%m-%d %H:%M:%S")
    for label, value in [("剩余电流", "412 mA"), ("允许范围", "不高于 300 mA"), ("超限开始于", local_since)]:
        assert f"<dt>{label}</dt><dd data-fact>{value}</dd>" in detail
    timeline = detail.split('id="timeline"')[1]
    assert "剩余电流：412 mA；允许范围：不高于 300 mA" in timeline

    detail = client.get(reverse("firewatch:alarm_detail", args=[fault.pk])).content.decode()
    text = visible_text(detail)
    assert not FIELD_KEY.findall(text) and "{" not in text
    assert (
        "<dt>故障</dt><dd data-fact>总线故障</dd>" in detail and "1 区 6 号" in detail and "2F走廊" in detail
    )
    assert "0102" not in text  # the raw frame stays in the API
    detail = client.get(reverse("firewatch:alarm_detail", args=[odd.pk])).content.decode()
    assert "E07" not in visible_text(detail) and "smoke_high" not in visible_text(detail)
    assert "未收录的故障类型" in detail

    # The codes stay in the API.
    api = APIClient()
    api.force_authenticate(city_office)
    body = api.get(f"/api/v1/alarms/{fault.pk}/").json()
    assert body["kind"] == "fault" and body["detail"]["code"] == "bus" and body["detail"]["raw"] == "0102"


def test_kind_labels_and_reported_facts() -> None:
    assert kinds.alarm_label("threshold:residual_current") == "剩余电流超限"
    # Messages and exports keep an unknown code; the screens never show it.
    assert kinds.alarm_label("threshold:odd") == _("Threshold: %(code)s") % {"code": "odd"}
    assert kinds.alarm_title("threshold:odd") == "读数超限" and kinds.alarm_title("odd") == "其他报警"
    assert kinds.alarm_title("fire") == kinds.alarm_label("fire") == str(kinds.KIND_LABELS["fire"])
    dev = Device(type="water_pressure", thresholds={"pressure": {"min": 0.1, "max": 1.2}})
    assert kinds.detail_facts("threshold:pressure", {"value": "0.05", "unit": "MPa"}, dev) == [
        ("水压", "0.05 MPa"),
        ("允许范围", "不低于 0.1 MPa，不高于 1.2 MPa"),
    ]
    assert kinds.summary("threshold:pressure", {"value": "0.05", "unit": "MPa"}, dev) == (
        "0.05 MPa（不低于 0.1 MPa，不高于 1.2 MPa）"
    )
    assert kinds.detail_facts("fault", {"code": "fault"}) == []  # says nothing the kind does not
    assert kinds.detail_facts("fault", {"code": "main_power"}) == [("故障", "主电故障")]
    clock = kinds.detail_facts("fire", {"device_time": "2012-01-01T08:00:00+08:00", "test": True})
    assert clock == [
        ("测试信号", "是：设备处于测试状态"),
        ("设备时钟", "2012-01-01 08:00:00（偏差过大，已按服务器时间记录）"),
    ]
    assert kinds.detail_facts("fire", {"severity": "critical", "analog_type": 3, "raw_value": 5}) == []


def test_ages_read_in_minutes_hours_and_days() -> None:
    now = timezone.now()
    assert selectors.age(now - dt.timedelta(seconds=20), now) == "刚刚"
    assert selectors.age(now - dt.timedelta(minutes=12), now) == "12分钟前"
    assert selectors.age(now - dt.timedelta(hours=5, minutes=59), now) == "5小时前"
    assert selectors.age(now - dt.timedelta(days=3, hours=2), now) == "3天前"
