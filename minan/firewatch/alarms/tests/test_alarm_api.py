"""`/api/v1/alarms/`, acknowledge and close, and `/api/v1/alarm-board/`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from minan.core.audit.models import AuditEvent
from minan.firewatch.models import Alarm
from minan.firewatch.tests.board_helpers import alarm, device, fire

pytestmark = pytest.mark.django_db


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def homes(institutions: dict[str, Any]) -> dict[str, Any]:
    return {"rc": institutions["rc_elderly"], "zc": institutions["zc_elderly"]}


def test_list_and_retrieve_with_events_in_scope_only(rencheng_officer: Any, homes: dict[str, Any]) -> None:
    mine = fire(device(homes["rc"], name="3F 烟感"))
    gas = alarm(device(homes["rc"], type="gas"), "gas", timezone.now() - dt.timedelta(days=3))
    theirs = fire(device(homes["zc"]))
    client = api(rencheng_officer)
    body = client.get("/api/v1/alarms/").json()
    assert [a["id"] for a in body["results"]] == [mine.pk, gas.pk]
    first = body["results"][0]
    assert (first["kind"], first["severity"], first["state"], first["device_name"]) == (
        "fire", "critical", "active_unack", "3F 烟感",
    )  # fmt: skip
    assert first["kind_label"] == _("Fire alarm") and first["state_label"] == _("Unacknowledged")
    assert [a["id"] for a in client.get("/api/v1/alarms/", {"kind": "gas"}).json()["results"]] == [gas.pk]
    assert [a["id"] for a in client.get("/api/v1/alarms/", {"severity": "critical"}).json()["results"]] == [
        mine.pk
    ]
    detail = client.get(f"/api/v1/alarms/{mine.pk}/").json()
    assert [e["action"] for e in detail["events"]] == ["raised", "escalated"]
    assert detail["events"][1]["data"]["notify"] == ["duty_staff"] and detail["events"][0][
        "action_label"
    ] == _("Raised")
    missing = client.get(f"/api/v1/alarms/{theirs.pk}/")
    assert missing.status_code == 404


def test_acknowledge_stops_the_escalation(rencheng_officer: Any, homes: dict[str, Any]) -> None:
    found = fire(device(homes["rc"]))
    response = api(rencheng_officer).post(f"/api/v1/alarms/{found.pk}/acknowledge/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "active_ack" and body["acknowledged_by"] == rencheng_officer.pk
    assert body["next_escalation_at"] is None and body["events"][-1]["action"] == "acknowledged"
    found.refresh_from_db()
    assert found.next_escalation_at is None and found.acknowledged_by == rencheng_officer
    assert AuditEvent.objects.filter(action="alarm.acknowledge").count() == 1
    again = api(rencheng_officer).post(f"/api/v1/alarms/{found.pk}/acknowledge/")
    assert again.status_code == 400 and again.json()["code"] == "acknowledged"


def test_close_needs_the_detail_of_its_class(rencheng_officer: Any, homes: dict[str, Any]) -> None:
    found = fire(device(homes["rc"]))
    client = api(rencheng_officer)
    url = f"/api/v1/alarms/{found.pk}/close/"
    refused = client.post(url, {"classification": "test", "detail": {"tested_by": "张三"}}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "code": "invalid", "detail": _("Enter the maintenance window of the test."), "field": "maintenance_window",
    }  # fmt: skip
    assert client.post(url, {"classification": "nonsense"}, format="json").json()["field"] == "classification"
    unchanged = Alarm.objects.get(pk=found.pk)
    assert (unchanged.closed_at, unchanged.acknowledged_at, unchanged.classification) == (None, None, "")
    done = client.post(url, {"classification": "fault", "detail": {"description": "探头脏污", "maintenance_order": "WO-1"},
                             "note": "已更换"}, format="json")  # fmt: skip
    assert done.status_code == 200
    body = done.json()
    assert body["state"] == "closed" and body["classification"] == "fault"
    assert body["close_detail"] == {"description": "探头脏污", "maintenance_order": "WO-1", "note": "已更换"}
    assert [e["action"] for e in body["events"]][-2:] == ["acknowledged", "closed"]
    closed_again = client.post(url, {"classification": "test"}, format="json")
    assert closed_again.status_code == 400 and closed_again.json()["code"] == "closed"


def test_without_permission_or_out_of_scope(make_user: Any, rencheng_officer: Any, tree: dict[str, Any],
                                            homes: dict[str, Any]) -> None:  # fmt: skip
    viewer = make_user("viewer", roles=["member_department"], region=tree["rencheng"])
    mine, theirs = fire(device(homes["rc"])), fire(device(homes["zc"]))
    denied = api(viewer).post(f"/api/v1/alarms/{mine.pk}/acknowledge/")
    assert denied.status_code == 403
    assert (
        api(viewer)
        .post(f"/api/v1/alarms/{mine.pk}/close/", {"classification": "test"}, format="json")
        .status_code
        == 403
    )
    assert AuditEvent.objects.filter(action="permission.denied", user=viewer).count() == 2
    assert api(rencheng_officer).post(f"/api/v1/alarms/{theirs.pk}/acknowledge/").status_code == 404
    assert (
        api(rencheng_officer).post(f"/api/v1/alarms/{theirs.pk}/close/", {}, format="json").status_code == 404
    )
    assert Alarm.objects.filter(acknowledged_at__isnull=False).count() == 0
    nobody = make_user("nobody", roles=[], region=tree["rencheng"])
    assert api(nobody).get("/api/v1/alarms/").status_code == 403


def test_the_board_for_polling_clients(city_office: Any, homes: dict[str, Any]) -> None:
    client = api(city_office)
    gas = alarm(device(homes["rc"], type="gas"), "gas", timezone.now())
    burning = fire(device(homes["zc"]))
    body = client.get("/api/v1/alarm-board/").json()
    assert [a["id"] for a in body["alarms"]] == [burning.pk, gas.pk]
    assert body["fire_unacknowledged"] == [burning.pk]
    assert {d["institution"]: d["total"] for d in body["devices"]} == {homes["rc"].pk: 1, homes["zc"].pk: 1}
    assert client.get("/api/v1/alarm-board/", {"since": body["token"]}).status_code == 204
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/alarm-board/", {"since": body["token"]}).status_code == 204
    assert len(queries) <= 6
    client.post(f"/api/v1/alarms/{burning.pk}/acknowledge/")
    after = client.get("/api/v1/alarm-board/", {"since": body["token"]}).json()
    # Acknowledged, the fire alarm moves below the unacknowledged gas alarm (the board's sections).
    assert after["fire_unacknowledged"] == []
    assert [(a["id"], a["state"], a["section"]) for a in after["alarms"]] == [
        (gas.pk, "active_unack", "unacknowledged"),
        (burning.pk, "active_ack", "handling"),
    ]
