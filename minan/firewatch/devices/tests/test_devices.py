"""The device registry service and pages: validation (nothing written on bad input), scope (404), permissions
(403, nothing changed), maintenance windows, retire, push credentials shown once, audit, query counts."""

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
from minan.core.errors import NotPermitted, OutOfScope
from minan.core.navigation import menu_for
from minan.firewatch import demo
from minan.firewatch.alarms.services import clean_close_detail, unanswered_duty_checks
from minan.firewatch.devices import services
from minan.firewatch.devices.services.registry import _values_of
from minan.firewatch.figures import selectors as figures
from minan.firewatch.models import Alarm, AlarmEvent, Device, DeviceEvent, Signal
from minan.firewatch.tests.device_helpers import raw, register
from minan.hazards.models import Hazard
from minan.institutions.models import Institution

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user: Any, institutions: dict[str, Any]) -> Any:
    return make_user("rc_staff", roles=["institution_staff"], institution=institutions["rc_elderly"])


@pytest.fixture
def reader(make_user: Any, tree: dict[str, Any]) -> Any:
    return make_user("lead", roles=["sector_lead"], region=tree["city"])


def actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="device.")
        .order_by("pk")
        .values_list("action", flat=True)
    )


# --- the service ------------------------------------------------------------------------------------------------


def test_a_device_is_registered_inside_the_scope_and_audited(
    rencheng_officer: Any, institutions: Any
) -> None:
    home = institutions["rc_elderly"]
    panel = register(rencheng_officer, home, "P-1", type="panel", name="主机", protocol="gb26875",
                     gb_address=2**48 - 1, gb_component="1:1")  # fmt: skip
    smoke = register(rencheng_officer, home, " S-1 ", type="smoke", name=" 3F 烟感 ", protocol="gb26875",
                     gb_address=2**48 - 1, gb_component="1:1:4294967295", panel=panel,
                     thresholds={"temp": {"max": 57.5, "for_seconds": 0}})  # fmt: skip
    assert (smoke.serial, smoke.name, smoke.panel_id, smoke.region_path) == (
        "S-1",
        "3F 烟感",
        panel.pk,
        home.region_path,
    )
    assert (smoke.heartbeat_seconds, smoke.grace_seconds, smoke.active) == (300, 60, True)
    assert actions() == ["device.create", "device.create"]
    event = AuditEvent.objects.filter(action="device.create").order_by("pk").last()
    assert event is not None and event.object_id == str(smoke.pk) and event.user_id == rencheng_officer.pk
    assert event.changes["serial"] == [None, "S-1"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"type": "laser"}, "type", "Choose a device type from the list."),
        ({"protocol": "coap"}, "protocol", "Choose a protocol from the list."),
        ({"name": "  "}, "name", "Enter the device's name."),
        ({"serial": ""}, "serial", "Enter the serial number or IMEI."),
        ({"serial": "A B"}, "serial", "The serial number cannot contain spaces."),
        ({"protocol": "gb26875"}, "gb_address", "GB/T 26875.3 devices need the transmission device's address."),
        ({"protocol": "gb26875", "gb_address": 2**48}, "gb_address", None),
        ({"protocol": "gb26875", "gb_address": -1}, "gb_address", None),
        ({"protocol": "gb26875", "gb_address": 1, "gb_component": "1"}, "gb_component", None),
        ({"protocol": "gb26875", "gb_address": 1, "gb_component": "1:1:x"}, "gb_component", None),
        ({"protocol": "gb26875", "gb_address": 1, "gb_component": "1:1:2:3"}, "gb_component", None),
        ({"protocol": "gb26875", "gb_address": 1, "gb_component": "256:1"}, "gb_component",
         "System type and system address are 0 to 255."),
        ({"protocol": "gb26875", "gb_address": 1, "gb_component": "1:1:4294967296"}, "gb_component",
         "The component address is 0 to 4294967295."),
        ({"gb_address": 5}, "gb_address", "Only GB/T 26875.3 devices have a GB/T 26875.3 address."),
        ({"heartbeat_seconds": 9}, "heartbeat_seconds", None),
        ({"grace_seconds": -1}, "grace_seconds", None),
        ({"thresholds": []}, "thresholds", None),
        ({"thresholds": {"pressure": {"min": 2, "max": 1}}}, "thresholds", "%(code)s: min must be less than max."),
        ({"thresholds": {"pressure": {"min": 1, "max": 1}}}, "thresholds", "%(code)s: min must be less than max."),
        ({"thresholds": {"pressure": {"for_seconds": 5}}}, "thresholds", "%(code)s: give min and/or max."),
        ({"thresholds": {"pressure": {"max": "1.2"}}}, "thresholds", "%(code)s: min and max must be numbers."),
        ({"thresholds": {"pressure": {"max": 1, "for_seconds": -1}}}, "thresholds", None),
        ({"thresholds": {"pressure": {"max": 1, "for_seconds": 1.5}}}, "thresholds", None),
        ({"thresholds": {"pressure": {"max": 1, "limit": 3}}}, "thresholds", None),
        ({"thresholds": {"bad code": {"max": 1}}}, "thresholds", None),
    ],
)  # fmt: skip
def test_bad_values_are_refused_on_their_field_and_nothing_is_written(
    rencheng_officer: Any, institutions: Any, fields: dict[str, Any], field: str, message: str | None
) -> None:
    values = dict(fields)
    serial = values.pop("serial", "X-1")
    with pytest.raises(services.DeviceInvalid) as caught:
        register(rencheng_officer, institutions["rc_elderly"], serial, **values)
    assert field in {f for f, _m in caught.value.problems}
    if message is not None:
        expected = _(message) % {"code": "pressure"} if "%(code)s" in message else _(message)
        assert expected in [m for f, m in caught.value.problems if f == field]
    assert not Device.objects.exists() and actions() == []


def test_serial_and_gb_address_are_unique_with_a_clear_message(
    rencheng_officer: Any, institutions: Any
) -> None:
    home = institutions["rc_elderly"]
    register(rencheng_officer, home, "S-1")
    register(rencheng_officer, home, "T-1", type="transmitter", protocol="gb26875", gb_address=7)
    with pytest.raises(services.DeviceInvalid) as caught:
        register(rencheng_officer, home, "S-1")
    assert caught.value.problems == [
        ("serial", _("Serial number %(serial)s is already registered.") % {"serial": "S-1"})
    ]
    with pytest.raises(services.DeviceInvalid) as caught:
        register(rencheng_officer, home, "T-2", type="transmitter", protocol="gb26875", gb_address=7)
    assert caught.value.field == "gb_component"
    assert Device.objects.count() == 2


def test_the_panel_must_be_a_panel_of_the_same_institution(rencheng_officer: Any, institutions: Any) -> None:
    home, other = institutions["rc_elderly"], institutions["rc_funeral"]
    other_panel = register(rencheng_officer, other, "P-2", type="panel")
    not_a_panel = register(rencheng_officer, home, "S-0", type="smoke")
    for panel in (other_panel, not_a_panel):
        with pytest.raises(services.DeviceInvalid) as caught:
            register(rencheng_officer, home, "S-1", type="smoke", panel=panel)
        assert caught.value.problems == [
            ("panel", _("Choose a fire-alarm control panel of the same institution."))
        ]
    assert not Device.objects.filter(serial="S-1").exists()


def test_scope_and_permissions_guard_every_write(
    rencheng_officer: Any, reader: Any, staff: Any, institutions: Any
) -> None:
    outside = raw(institutions["zc_elderly"], "ZC-1")
    with pytest.raises(services.DeviceInvalid) as caught:
        register(rencheng_officer, institutions["zc_elderly"], "X-1")
    assert caught.value.field == "institution"
    with pytest.raises(OutOfScope):
        services.update_device(rencheng_officer, outside, name="改名")
    with pytest.raises(OutOfScope):
        services.retire(rencheng_officer, outside)
    with pytest.raises(OutOfScope):
        services.set_maintenance(
            rencheng_officer, outside, None, timezone.now() + dt.timedelta(hours=1), "检修"
        )
    mine = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    with pytest.raises(services.DeviceInvalid) as caught:  # moving it out of the scope
        services.update_device(rencheng_officer, mine, institution=institutions["zc_elderly"])
    assert caught.value.field == "institution"
    for actor in (reader, staff):  # may read, not register or change
        with pytest.raises(NotPermitted):
            register(actor, institutions["rc_elderly"], "X-2")
        with pytest.raises(NotPermitted):
            services.update_device(actor, mine, name="改名")
        with pytest.raises(NotPermitted):
            services.retire(actor, mine)
    with pytest.raises(NotPermitted):
        services.set_maintenance(reader, mine, None, timezone.now() + dt.timedelta(hours=1), "检修")
    assert (
        Device.objects.get(pk=outside.pk).name == "烟感" and Device.objects.get(pk=mine.pk).name == "管网压力"
    )
    assert set(Device.objects.values_list("institution_id", flat=True)) == {
        institutions["zc_elderly"].pk,
        institutions["rc_elderly"].pk,
    }
    assert actions() == ["device.create"]


def test_update_records_the_changes_and_a_bad_update_changes_nothing(
    rencheng_officer: Any, institutions: Any
) -> None:
    device = register(
        rencheng_officer, institutions["rc_elderly"], "RC-1", thresholds={"pressure": {"min": 0.1}}
    )
    services.update_device(
        rencheng_officer, device, name="水泵房压力", thresholds={"pressure": {"min": 0.2, "max": 1}}
    )
    with pytest.raises(services.DeviceInvalid):
        services.update_device(rencheng_officer, device, name="再改", heartbeat_seconds=1)
    device.refresh_from_db()
    assert (device.name, device.heartbeat_seconds, device.thresholds) == (
        "水泵房压力",
        300,
        {"pressure": {"min": 0.2, "max": 1}},
    )
    change = AuditEvent.objects.get(action="device.change")
    assert change.changes["name"] == ["管网压力", "水泵房压力"] and "thresholds" in change.changes
    services.update_device(rencheng_officer, device, name="水泵房压力")  # no change: no event
    assert actions() == ["device.create", "device.change"]


def test_maintenance_window_rules(rencheng_officer: Any, staff: Any, institutions: Any) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    now = timezone.now()
    cases = [
        (now, None, "检修", "end", "Enter when the maintenance ends."),
        (now, now - dt.timedelta(minutes=1), "检修", "end", "The end must be after the start."),
        (
            now - dt.timedelta(hours=3),
            now - dt.timedelta(hours=1),
            "检修",
            "end",
            "The end must be in the future.",
        ),
        (now, now + dt.timedelta(hours=1), "  ", "reason", "State the reason for the maintenance."),
    ]
    for start, end, reason, field, message in cases:
        with pytest.raises(services.DeviceInvalid) as caught:
            services.set_maintenance(staff, device, start, end, reason)
        assert (field, _(message)) in caught.value.problems
    device.refresh_from_db()
    assert device.maintenance_until is None
    # Institution staff hold silence_device for their own devices.
    services.set_maintenance(staff, device, None, now + dt.timedelta(hours=4), "喷淋管网检修")
    device.refresh_from_db()
    assert device.maintenance_reason == "喷淋管网检修" and services.in_maintenance_now(device)
    services.clear_maintenance(staff, device)
    device.refresh_from_db()
    assert (device.maintenance_from, device.maintenance_until, device.maintenance_reason) == (None, None, "")
    assert actions() == ["device.create", "device.maintenance", "device.maintenance_clear"]


def test_retire_and_reactivate(rencheng_officer: Any, institutions: Any) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    services.retire(rencheng_officer, device)
    services.retire(rencheng_officer, device)  # already retired: nothing more
    assert not Device.objects.get(pk=device.pk).active
    services.reactivate(rencheng_officer, device)
    assert Device.objects.get(pk=device.pk).active
    assert actions() == ["device.create", "device.retire", "device.reactivate"]


# --- the pages ----------------------------------------------------------------------------------------------------


def test_list_filters_and_scope(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    home = institutions["rc_elderly"]
    register(rencheng_officer, home, "RC-P", type="panel", name="主机")
    online = register(rencheng_officer, home, "RC-S", type="smoke", name="走廊烟感")
    Device.objects.filter(pk=online.pk).update(status="online")
    quiet = register(
        rencheng_officer, institutions["rc_funeral"], "RC-G", type="gas", name="厨房燃气", protocol="http"
    )
    services.set_maintenance(rencheng_officer, quiet, None, timezone.now() + dt.timedelta(hours=1), "检修")
    raw(institutions["zc_elderly"], "ZC-1", name="邹城烟感")
    login_client(client, rencheng_officer)
    url = reverse("firewatch:device_list")

    def serials(**params: str) -> set[str]:
        page = client.get(url, params)
        assert page.status_code == 200
        return {d.serial for d in page.context["object_list"]}

    assert serials() == {"RC-P", "RC-S", "RC-G"}
    assert serials(type="smoke") == {"RC-S"}
    assert serials(status="online") == {"RC-S"}
    assert serials(status="unknown") == {"RC-P", "RC-G"}
    assert serials(protocol="http") == {"RC-G"}
    assert serials(maintenance="1") == {"RC-G"}
    assert serials(institution=str(institutions["rc_funeral"].pk)) == {"RC-G"}
    assert serials(q="走廊") == {"RC-S"} and serials(q="rc-p") == {"RC-P"}
    assert "邹城" not in client.get(url).content.decode()


def test_the_list_page_query_count_does_not_grow(
    client: Any, rencheng_officer: Any, institutions: Any, django_assert_max_num_queries: Any
) -> None:
    login_client(client, rencheng_officer)
    url = reverse("firewatch:device_list")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    register(rencheng_officer, institutions["rc_elderly"], "RC-X")
    few = count()
    for n in range(30):
        register(rencheng_officer, institutions["rc_elderly" if n % 2 else "rc_funeral"], f"RC-{n}")
    assert count() == few
    with django_assert_max_num_queries(20):
        assert client.get(url, {"maintenance": "1", "type": "water_pressure"}).status_code == 200


def test_export_is_the_filtered_list(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    register(rencheng_officer, institutions["rc_elderly"], "RC-1", thresholds={"pressure": {"max": 1.2}})
    register(rencheng_officer, institutions["rc_elderly"], "RC-2", type="smoke")
    raw(institutions["zc_elderly"], "ZC-1")
    login_client(client, rencheng_officer)
    response = client.get(reverse("firewatch:device_export"), {"type": "water_pressure"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][: len(services.HEADERS)] == tuple(services.HEADERS)
    assert [r[3] for r in rows[1:]] == ["RC-1"] and rows[1][14] == '{"pressure": {"max": 1.2}}'
    assert AuditEvent.objects.filter(action="export", object_type="firewatch.device").exists()


def test_detail_shows_status_signals_flips_and_open_alarms(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    now = timezone.now()
    Signal.objects.create(device=device, type="reading", code="pressure", value="0.05", unit="MPa", at=now,
                          out_of_range=True)  # fmt: skip
    DeviceEvent.objects.create(device=device, status="offline", at=now)
    alarm = Alarm.objects.create(device=device, institution=device.institution, region_path=device.region_path,
                                 kind="threshold:pressure", severity="minor", first_at=now, last_at=now)  # fmt: skip
    login_client(client, rencheng_officer)
    page = client.get(reverse("firewatch:device_detail", args=[device.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "0.05 MPa" in html and 'data-event="offline"' in html and f'data-alarm="{alarm.pk}"' in html
    assert 'data-credential="0"' in html


def test_out_of_scope_device_pages_are_404_and_change_nothing(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    outside = raw(institutions["zc_elderly"], "ZC-1")
    login_client(client, rencheng_officer)
    assert client.get(reverse("firewatch:device_detail", args=[outside.pk])).status_code == 404
    assert client.get(reverse("firewatch:device_edit", args=[outside.pk])).status_code == 404
    for name, data in (
        ("device_edit", {"name": "x"}),
        ("device_state", {"action": "retire"}),
        ("device_credential", {"action": "issue"}),
        ("device_maintenance", {"action": "set", "end": "2099-01-01T00:00", "reason": "x"}),
    ):
        assert client.post(reverse(f"firewatch:{name}", args=[outside.pk]), data).status_code == 404
    outside.refresh_from_db()
    assert (outside.name, outside.active, outside.token_hash, outside.maintenance_until) == (
        "烟感",
        True,
        "",
        None,
    )


def test_a_reader_gets_403_and_nothing_changes(
    client: Any, reader: Any, rencheng_officer: Any, institutions: Any
) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    login_client(client, reader)
    assert client.get(reverse("firewatch:device_detail", args=[device.pk])).status_code == 200
    assert client.get(reverse("firewatch:device_create")).status_code == 403
    assert client.get(reverse("firewatch:device_import")).status_code == 403
    for name, data in (
        ("device_edit", {"name": "x"}),
        ("device_state", {"action": "retire"}),
        ("device_credential", {"action": "issue"}),
        ("device_maintenance", {"action": "set", "end": "2099-01-01T00:00", "reason": "x"}),
    ):
        assert client.post(reverse(f"firewatch:{name}", args=[device.pk]), data).status_code == 403
    device.refresh_from_db()
    assert (device.name, device.active, device.token_hash, device.maintenance_until) == (
        "管网压力",
        True,
        "",
        None,
    )
    assert AuditEvent.objects.filter(action="permission.denied").count() >= 4


def test_create_and_edit_pages(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    login_client(client, rencheng_officer)
    home = institutions["rc_elderly"]
    form = {"institution": home.pk, "type": "water_pressure", "name": "泵房压力", "serial": "RC-9", "protocol": "mqtt",
            "heartbeat_seconds": 120, "grace_seconds": 30, "thresholds": '{"pressure": {"min": 0.1, "max": 0.05}}'}  # fmt: skip
    bad = client.post(reverse("firewatch:device_create"), form)
    assert bad.status_code == 400 and not Device.objects.exists()
    assert (
        _("%(code)s: min must be less than max.") % {"code": "pressure"}
        in bad.context["form"].errors["thresholds"]
    )
    not_json = client.post(reverse("firewatch:device_create"), {**form, "thresholds": "{pressure"})
    assert not_json.status_code == 400 and "thresholds" in not_json.context["form"].errors
    outside = client.post(reverse("firewatch:device_create"), {**form, "institution": institutions["zc_elderly"].pk,
                                                               "thresholds": ""})  # fmt: skip
    assert (
        outside.status_code == 400
        and "institution" in outside.context["form"].errors
        and not Device.objects.exists()
    )
    ok = client.post(
        reverse("firewatch:device_create"), {**form, "thresholds": '{"pressure": {"min": 0.1, "max": 1.2}}'}
    )
    device = Device.objects.get()
    assert ok.status_code == 302 and ok["Location"] == reverse("firewatch:device_detail", args=[device.pk])
    assert device.thresholds == {"pressure": {"min": 0.1, "max": 1.2}}
    assert client.get(reverse("firewatch:device_edit", args=[device.pk])).status_code == 200
    edited = client.post(
        reverse("firewatch:device_edit", args=[device.pk]), {**form, "name": "泵房出口压力", "thresholds": ""}
    )
    assert edited.status_code == 302
    device.refresh_from_db()
    assert (device.name, device.thresholds) == ("泵房出口压力", {})


def test_staff_set_maintenance_on_the_page(
    client: Any, staff: Any, rencheng_officer: Any, institutions: Any
) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    login_client(client, staff)
    url = reverse("firewatch:device_maintenance", args=[device.pk])
    bad = client.post(
        url, {"action": "set", "start": "2099-01-02T10:00", "end": "2099-01-01T10:00", "reason": "检修"}
    )
    assert (
        bad.status_code == 400
        and _("The end must be after the start.") in bad.context["maintenance_form"].errors["end"]
    )
    assert Device.objects.get(pk=device.pk).maintenance_until is None
    assert client.post(url, {"action": "set", "end": "2099-01-01T10:00", "reason": "检修"}).status_code == 302
    assert Device.objects.get(pk=device.pk).maintenance_reason == "检修"
    assert client.post(url, {"action": "clear"}).status_code == 302
    assert Device.objects.get(pk=device.pk).maintenance_until is None
    assert client.post(reverse("firewatch:device_edit", args=[device.pk]), {"name": "x"}).status_code == 403


def test_the_push_token_is_shown_once_and_revoking_invalidates_it(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    login_client(client, rencheng_officer)
    url = reverse("firewatch:device_credential", args=[device.pk])
    page = client.post(url, {"action": "issue"})
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    token = page.context["token"]
    html = page.content.decode()
    assert token in html and "/api/v1/ingest/signals/" in html and "X-MinAn-Signature" in html
    device.refresh_from_db()
    assert services.check_bearer(device, token) and token not in device.token_hash
    detail = client.get(reverse("firewatch:device_detail", args=[device.pk])).content.decode()
    assert token not in detail and 'data-credential="1"' in detail
    assert client.post(url, {"action": "revoke"}).status_code == 302
    device.refresh_from_db()
    assert not services.check_bearer(device, token)
    assert actions() == ["device.create", "device.credential_issue", "device.credential_revoke"]


def test_retire_on_the_page(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    device = register(rencheng_officer, institutions["rc_elderly"], "RC-1")
    login_client(client, rencheng_officer)
    url = reverse("firewatch:device_state", args=[device.pk])
    assert (
        client.post(url, {"action": "retire"}).status_code == 302
        and not Device.objects.get(pk=device.pk).active
    )
    assert (
        client.post(url, {"action": "reactivate"}).status_code == 302
        and Device.objects.get(pk=device.pk).active
    )


def test_the_navigation_shows_fire_devices(client: Any, rencheng_officer: Any, audit_admin: Any) -> None:
    assert "firewatch:device_list" in [i.url_name for i in menu_for(rencheng_officer)]
    assert "firewatch:device_list" not in [i.url_name for i in menu_for(audit_admin)]


def test_demo_devices_are_valid_and_seeded_once(make_user: Any, tree: dict[str, Any]) -> None:
    for name, region in (
        ("任城区社会福利中心", tree["rc_town"]),
        ("邹城市儿童福利院", tree["zoucheng"]),
        ("某养老院", tree["rc_town"]),
    ):
        Institution.objects.create(
            name=name, kind="elderly_care", region=region, region_path=region.region_path
        )
    created = demo.seed_devices()
    assert created == Device.objects.count() and demo.seed_devices() == 0
    assert set(Device.objects.values_list("institution__name", flat=True)) == {
        "任城区社会福利中心",
        "邹城市儿童福利院",
    }
    for device in Device.objects.all():
        assert services.problems(_values_of(device), device=device) == [], device.serial
        assert device.serial.startswith(f"JN-{device.institution_id}-")
    assert Device.objects.filter(maintenance_until__isnull=False).count() == 2
    panel = Device.objects.filter(type="panel").first()
    assert panel is not None and panel.components.filter(type__in=["smoke", "heat"]).count() >= 4
    # 30 days of closed alarms for the figures, once, each with its GB 25201 close-out and timeline.
    now = timezone.now()
    made = demo.seed_alarm_history(now=now)
    assert made == Alarm.objects.count() >= 2 and demo.seed_alarm_history(now=now) == 0
    for alarm in Alarm.objects.all():
        assert clean_close_detail(alarm.classification, alarm.close_detail) == alarm.close_detail
        assert alarm.first_at < alarm.acknowledged_at < alarm.cleared_at < alarm.closed_at <= now
        assert alarm.first_at >= now - dt.timedelta(days=demo.HISTORY_DAYS)
        assert list(AlarmEvent.objects.filter(alarm=alarm).order_by("at").values_list("action", flat=True)) == [
            "raised", "escalated", "acknowledged", "cleared", "closed",
        ]  # fmt: skip
    office = make_user("office", roles=["city_safety_office"], region=tree["city"])
    total = figures.figures(office, (now - dt.timedelta(days=31)).date(), now.date()).total
    fire = Alarm.objects.filter(kind="fire")
    assert (total.alarms, total.fire_closed) == (made, fire.count())
    assert total.fire_false == fire.filter(classification="false").count()
    # The 查岗 of two nights: one unanswered, which the worker's first run makes a finding.
    assert unanswered_duty_checks(now) == 1
    (finding,) = Hazard.objects.filter(source_ref__startswith="dutycheck:")
    assert "查岗未应答" in finding.description
    assert Signal.objects.filter(code="duty_check_sent", value="answered").count() >= 1
