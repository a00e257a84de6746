"""`/api/v1/devices/`: scope (404), filters, writes through the service with structured errors, push
credentials returned once, maintenance windows, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from minan.core.audit.models import AuditEvent
from minan.firewatch.devices import services
from minan.firewatch.models import Device
from minan.firewatch.tests.device_helpers import raw, register

pytestmark = pytest.mark.django_db
URL = "/api/v1/devices/"


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(type(user).objects.get(pk=user.pk))
    return client


@pytest.fixture
def staff(make_user: Any, institutions: dict[str, Any]) -> Any:
    return make_user("rc_staff", roles=["institution_staff"], institution=institutions["rc_elderly"])


def test_list_and_retrieve_stay_inside_the_scope(rencheng_officer: Any, institutions: Any) -> None:
    mine = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    register(rencheng_officer, institutions["rc_funeral"], "RC-2", type="gas", protocol="http")
    outside = raw(institutions["zc_elderly"], "ZC-1")
    client = api(rencheng_officer)
    listed = client.get(URL).json()
    assert {d["serial"] for d in listed["results"]} == {"RC-1", "RC-2"}
    assert [d["serial"] for d in client.get(URL, {"protocol": "http"}).json()["results"]] == ["RC-2"]
    assert [d["serial"] for d in client.get(URL, {"q": "rc-1"}).json()["results"]] == ["RC-1"]
    body = client.get(f"{URL}{mine.pk}/").json()
    assert body["institution"] == institutions["rc_elderly"].pk and body["has_credential"] is False
    assert client.get(f"{URL}{outside.pk}/").status_code == 404
    assert client.patch(f"{URL}{outside.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.post(f"{URL}{outside.pk}/credential/").status_code == 404
    assert client.post(f"{URL}{outside.pk}/maintenance/", {"end": "2099-01-01T00:00:00Z", "reason": "x"},
                       format="json").status_code == 404  # fmt: skip
    outside.refresh_from_db()
    assert (outside.name, outside.token_hash, outside.maintenance_until) == ("烟感", "", None)


def test_create_and_patch_go_through_the_service(rencheng_officer: Any, institutions: Any) -> None:
    client = api(rencheng_officer)
    home = institutions["rc_elderly"]
    payload = {"institution": home.pk, "type": "panel", "name": "主机", "serial": "API-P", "protocol": "gb26875",
               "gb_address": 42, "gb_component": "1:1"}  # fmt: skip
    created = client.post(URL, payload, format="json")
    assert created.status_code == 201, created.json()
    panel_id = created.json()["id"]
    smoke = client.post(URL, {**payload, "type": "smoke", "serial": "API-S", "gb_component": "1:1:3", "panel": panel_id},
                        format="json")  # fmt: skip
    assert smoke.status_code == 201 and smoke.json()["panel"] == panel_id
    bad = client.post(
        URL, {**payload, "serial": "API-X", "gb_component": "1:1:", "heartbeat_seconds": 1}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid" and bad.json()["field"] == "gb_component"
    assert {d["field"] for d in bad.json()["details"]} == {"gb_component", "heartbeat_seconds"}
    outside = client.post(
        URL, {**payload, "serial": "API-Y", "institution": institutions["zc_elderly"].pk}, format="json"
    )
    assert outside.status_code == 400 and outside.json()["field"] == "institution"
    dup = client.post(URL, {**payload, "gb_component": "2:1"}, format="json")
    assert dup.status_code == 400 and dup.json()["detail"] == _("Serial number %(serial)s is already registered.") % {
        "serial": "API-P"}  # fmt: skip
    assert set(Device.objects.values_list("serial", flat=True)) == {"API-P", "API-S"}
    patched = client.patch(
        f"{URL}{panel_id}/", {"name": "1号楼主机", "thresholds": {"temp": {"max": 60}}}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["name"] == "1号楼主机"
    refused = client.patch(f"{URL}{panel_id}/", {"name": "再改", "grace_seconds": -1}, format="json")
    assert refused.status_code == 400 and Device.objects.get(pk=panel_id).name == "1号楼主机"
    retired = client.patch(f"{URL}{panel_id}/", {"active": False}, format="json")
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert list(AuditEvent.objects.filter(action__startswith="device.").order_by("pk").values_list("action", flat=True)) == [
        "device.create", "device.create", "device.change", "device.retire"]  # fmt: skip


def test_credential_is_returned_once_and_revoked(rencheng_officer: Any, institutions: Any) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    client = api(rencheng_officer)
    issued = client.post(f"{URL}{device.pk}/credential/")
    assert issued.status_code == 201 and issued["Cache-Control"] == "private, no-store"
    token = issued.json()["token"]
    device.refresh_from_db()
    assert services.check_bearer(device, token)
    shown = client.get(f"{URL}{device.pk}/").json()
    assert shown["has_credential"] is True and token not in str(shown)
    assert client.delete(f"{URL}{device.pk}/credential/").status_code == 204
    device.refresh_from_db()
    assert not services.check_bearer(device, token)


def test_maintenance_by_staff_and_permissions(rencheng_officer: Any, staff: Any, make_user: Any, tree: Any,
                                              institutions: Any) -> None:  # fmt: skip
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    other = register(rencheng_officer, institutions["rc_funeral"], "RC-2")
    client = api(staff)
    assert {d["serial"] for d in client.get(URL).json()["results"]} == {"RC-1"}
    bad = client.post(
        f"{URL}{device.pk}/maintenance/", {"end": "2000-01-01T00:00:00Z", "reason": "检修"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "end"
    ok = client.post(
        f"{URL}{device.pk}/maintenance/", {"end": "2099-01-01T00:00:00Z", "reason": "检修"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["maintenance_reason"] == "检修" and ok.json()["in_maintenance"]
    assert client.delete(f"{URL}{device.pk}/maintenance/").json()["maintenance_until"] is None
    assert client.post(f"{URL}{other.pk}/maintenance/", {"end": "2099-01-01T00:00:00Z", "reason": "x"},
                       format="json").status_code == 404  # fmt: skip
    # Staff may not register or change devices, nor issue tokens.
    assert client.patch(f"{URL}{device.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.post(URL, {"institution": institutions["rc_elderly"].pk, "type": "smoke", "name": "x",
                             "serial": "NEW", "protocol": "mqtt"}, format="json").status_code == 403  # fmt: skip
    assert client.post(f"{URL}{device.pk}/credential/").status_code == 403
    lead = make_user("lead", roles=["sector_lead"], region=tree["city"])
    assert api(lead).post(f"{URL}{device.pk}/maintenance/", {"end": "2099-01-01T00:00:00Z", "reason": "x"},
                          format="json").status_code == 403  # fmt: skip
    device.refresh_from_db()
    assert (device.name, device.token_hash, device.maintenance_until) == ("管网压力", "", None)
    assert not Device.objects.filter(serial="NEW").exists()


def test_the_api_list_query_count_does_not_grow(
    rencheng_officer: Any, institutions: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(25):
        register(rencheng_officer, institutions["rc_elderly"], f"RC-{n}")
    with django_assert_max_num_queries(8):
        assert api(rencheng_officer).get(URL).status_code == 200
