"""Dates at the ends of the calendar, found by schemathesis.

Date filters answered 500: 0001-01-01 at local midnight in Asia/Shanghai is before year 1 in UTC, and
9999-12-31 has no next day. Far-off date-times were accepted and answered back with Shanghai's local
mean time offset (+08:05:43 before 1901), which is not a valid RFC 3339 date-time as the schema says.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from conftest import login_client
from minan.firewatch.models import Device
from minan.firewatch.tests.board_helpers import device, fire
from minan.hazards import services as hazards

pytestmark = pytest.mark.django_db
EXTREMES = [("0001-01-01", "9999-12-31"), ("0001-01-02", "9999-12-30"), ("1500-06-01", "1899-12-31")]


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("first", "last"), EXTREMES)
def test_hazard_filters_at_the_ends_of_the_calendar(
    rencheng_officer: Any, institutions: Any, first: str, last: str
) -> None:
    hazards.report(
        rencheng_officer, institutions["rc_elderly"], source="duty_visit", category="fire", level="general",
        description="疏散通道堆放杂物",
    )  # fmt: skip
    response = api(rencheng_officer).get("/api/v1/hazards/", {"found_from": first, "found_to": last})
    assert response.status_code == 200
    assert response.json()["count"] == (1 if first < "2000" and last > "2100" else 0)


@pytest.mark.parametrize(("first", "last"), EXTREMES)
def test_alarm_filters_at_the_ends_of_the_calendar(
    rencheng_officer: Any, institutions: Any, first: str, last: str
) -> None:
    fire(device(institutions["rc_elderly"]))
    response = api(rencheng_officer).get("/api/v1/alarms/", {"date_from": first, "date_to": last})
    assert response.status_code == 200
    assert response.json()["count"] == (1 if first < "2000" and last > "2100" else 0)


@pytest.mark.parametrize(("first", "last"), EXTREMES)
def test_audit_filters_at_the_ends_of_the_calendar(
    client: Any, audit_admin: Any, first: str, last: str
) -> None:
    login_client(client, audit_admin)
    response = client.get("/api/v1/audit-events/", {"from": first, "to": last})
    assert response.status_code == 200
    assert isinstance(response.json()["results"], list)


@pytest.mark.parametrize(
    "when", ["0466-12-16T21:11:23+08:00", "1899-12-31T23:00:00Z", "2101-01-02T00:00:00Z"]
)
def test_a_far_off_account_expiry_is_refused_not_answered_in_local_mean_time(
    make_user: Any, tree: Any, when: str
) -> None:
    officer = make_user("officer_x", roles=["county_officer"], region=tree["rencheng"])
    target = make_user("someone", region=tree["rc_town"])
    response = api(officer).patch(f"/api/v1/users/{target.pk}/", {"expires_at": when}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["expires_at"]
    target.refresh_from_db()
    assert target.expires_at is None


def test_an_account_expiry_in_range_is_answered_as_rfc3339(make_user: Any, tree: Any) -> None:
    officer = make_user("officer_y", roles=["county_officer"], region=tree["rencheng"])
    target = make_user("someone2", region=tree["rc_town"])
    response = api(officer).patch(
        f"/api/v1/users/{target.pk}/", {"expires_at": "2030-06-01T08:00:00+08:00"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["expires_at"] == "2030-06-01T08:00:00+08:00"


@pytest.mark.parametrize(
    ("start", "end"),
    [("0466-12-16T21:11:23+08:00", "2030-01-01T00:00:00Z"), ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z")],
)
def test_a_far_off_maintenance_window_is_refused(
    rencheng_officer: Any, institutions: Any, start: str, end: str
) -> None:
    smoke = device(institutions["rc_elderly"])
    response = api(rencheng_officer).post(
        f"/api/v1/devices/{smoke.pk}/maintenance/",
        {"start": start, "end": end, "reason": "维保"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and len(body["errors"]) == 1
    unchanged = Device.objects.get(pk=smoke.pk)
    assert (unchanged.maintenance_from, unchanged.maintenance_until, unchanged.maintenance_reason) == (
        None,
        None,
        "",
    )
