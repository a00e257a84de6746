"""Fire-monitoring figures per county with known numbers, the page, the API and the query count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import login_client
from minan.firewatch.figures import selectors
from minan.firewatch.tests.board_helpers import alarm, device

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(institutions: dict[str, Any], city_office: Any) -> dict[str, Any]:
    """任城区: 4 devices in service (3 online) and one out of service; 4 alarms in the period (fires
    acknowledged after 2 and 4 minutes, one closed false, one real; one open; one fault), one old fire.
    邹城市: 2 devices online; one fire acknowledged after 1 minute, closed false."""
    rc, zc = institutions["rc_elderly"], institutions["zc_elderly"]
    rc_devices = [device(rc), device(rc), device(rc), device(rc, status="offline"), device(rc, active=False)]
    zc_devices = [device(zc), device(zc)]
    today = timezone.localdate()
    t = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=2), dt.time(12)))
    minutes = dt.timedelta(minutes=1)
    alarm(
        rc_devices[0],
        "fire",
        t,
        acknowledged_at=t + 2 * minutes,
        closed_at=t + 9 * minutes,
        classification="false",
    )
    alarm(
        rc_devices[1],
        "fire",
        t,
        acknowledged_at=t + 4 * minutes,
        closed_at=t + 30 * minutes,
        classification="real",
    )
    alarm(rc_devices[2], "fire", t)
    alarm(rc_devices[3], "fault", t)
    old = t - dt.timedelta(days=40)
    alarm(rc_devices[0], "fire", old, acknowledged_at=old + 100 * minutes, closed_at=old + 120 * minutes,
          classification="false")  # fmt: skip
    alarm(
        zc_devices[0],
        "fire",
        t,
        acknowledged_at=t + minutes,
        closed_at=t + 5 * minutes,
        classification="false",
    )
    return {"today": today}


def test_figures_per_county_with_known_numbers(
    city_office: Any, tree: dict[str, Any], data: dict[str, Any]
) -> None:
    today = data["today"]
    report = selectors.figures(city_office, *selectors.default_period(today))
    assert report.date_from == today - dt.timedelta(days=29)
    by_code = {c.code: c for c in report.counties}
    assert list(by_code) == [tree["rencheng"].code, tree["zoucheng"].code]
    rc, zc, total = by_code[tree["rencheng"].code], by_code[tree["zoucheng"].code], report.total
    assert (rc.name, rc.devices, rc.online, rc.alarms, rc.fire_closed, rc.fire_false) == (
        "任城区",
        4,
        3,
        4,
        2,
        1,
    )
    assert (rc.online_rate, rc.alarms_per_100, rc.false_alarm_rate, rc.mean_ack_minutes) == (
        75.0,
        100.0,
        50.0,
        3.0,
    )
    assert (zc.online_rate, zc.alarms_per_100, zc.false_alarm_rate, zc.mean_ack_minutes) == (
        100.0,
        50.0,
        100.0,
        1.0,
    )
    assert (total.devices, total.online, total.alarms, total.fire_closed, total.fire_false) == (6, 5, 5, 3, 2)
    assert (total.online_rate, total.alarms_per_100, total.false_alarm_rate, total.mean_ack_minutes) == (
        83.3, 83.3, 66.7, 2.3,
    )  # fmt: skip
    # A period reaching back to the old fire.
    wide = selectors.figures(city_office, today - dt.timedelta(days=60), today).total
    assert (wide.alarms, wide.fire_closed, wide.fire_false, wide.mean_ack_minutes) == (6, 4, 3, 26.8)


def test_nothing_to_divide_by_is_none_and_every_county_is_listed(
    city_office: Any, tree: dict[str, Any]
) -> None:
    today = timezone.localdate()
    report = selectors.figures(city_office, today, today)
    assert [c.code for c in report.counties] == [tree["rencheng"].code, tree["zoucheng"].code]
    assert report.total.online_rate is None and report.total.mean_ack_minutes is None


def test_the_number_of_queries_does_not_grow(
    city_office: Any, institutions: dict[str, Any], data: dict[str, Any]
) -> None:
    period = selectors.default_period(data["today"])
    selectors.figures(city_office, *period)
    with CaptureQueriesContext(connection) as before:
        selectors.figures(city_office, *period)
    now = timezone.now() - dt.timedelta(hours=1)
    for home in institutions.values():
        for _i in range(5):
            alarm(device(home), "fire", now, acknowledged_at=now + dt.timedelta(minutes=3))
    with CaptureQueriesContext(connection) as after:
        selectors.figures(city_office, *period)
    assert len(after) == len(before) <= 4


def test_the_page_and_the_api(
    client: Any, rencheng_officer: Any, city_office: Any, data: dict[str, Any]
) -> None:
    page = login_client(client, rencheng_officer).get(reverse("firewatch:figures")).content.decode()
    assert "邹城" not in page  # the other county is outside the scope
    total = page.split('data-row="total"')[1].split("</tr>")[0]
    assert 'data-col="online_rate">75.0%' in total and 'data-col="false_alarm_rate">50.0%' in total
    assert 'data-col="mean_ack_minutes">3.0' in total and 'id="firewatch-chart-data"' in page
    bad = client.get(reverse("firewatch:figures"), {"from": "2026-13-01"}).content.decode()
    assert 'data-period-error="1"' in bad

    api = APIClient()
    api.force_authenticate(city_office)
    body = api.get("/api/v1/firewatch-figures/").json()
    assert body["total"]["false_alarm_rate"] == 66.7 and len(body["counties"]) == 2
    assert body["counties"][0]["mean_ack_minutes"] == 3.0
    refused = api.get("/api/v1/firewatch-figures/", {"from": "x"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_date"
