"""The xlsx import of the device registry: all or nothing, every problem by line and column, institutions by
USCC or exact name inside the scope, upsert by serial inside the scope, panels in the same file, the page."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.core.errors import NotPermitted
from minan.core.xlsx import ImportRefused
from minan.firewatch.devices import services
from minan.firewatch.models import Device
from minan.firewatch.tests.device_helpers import raw, register
from minan.institutions.models import Institution

pytestmark = pytest.mark.django_db
USCC = "52370811MJ0000001X"


def xlsx(rows: list[list[Any]], headers: list[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers or services.HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row(institution: str, type_: str, name: str, serial: str, protocol: str, **more: Any) -> list[Any]:
    cells = {
        "institution": institution,
        "type": type_,
        "name": name,
        "serial": serial,
        "protocol": protocol,
        **more,
    }
    return [cells.get(field) for field, _header in services.COLUMNS]


@pytest.fixture
def home(institutions: dict[str, Any]) -> Institution:
    Institution.objects.filter(pk=institutions["rc_elderly"].pk).update(uscc=USCC)
    return Institution.objects.get(pk=institutions["rc_elderly"].pk)


def test_a_good_file_registers_every_row_with_panels_from_the_same_file(
    rencheng_officer: Any, home: Institution, institutions: Any
) -> None:
    data = xlsx([
        row(USCC.lower(), "感烟火灾探测器", "2F 走廊烟感", "IM-S1", "GB/T 26875.3", gb_address=1001, gb_component="1:1:7",
            panel="IM-P1", floor="2F"),
        row("任城区古槐敬老院", "火灾报警控制器", "主机", "IM-P1", "gb26875", gb_address=1001, gb_component="1:1"),
        row("任城区古槐敬老院", "Water pressure sensor", "管网压力", "IM-W1", "MQTT", heartbeat_seconds=120,
            thresholds='{"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}'),
        row("任城区殡仪馆", "gas", "厨房燃气", "IM-G1", "http", grace_seconds=0),
    ])  # fmt: skip
    result = services.import_devices(rencheng_officer, data, "设备.xlsx")
    assert (result.created, result.updated) == (4, 0)
    smoke = Device.objects.get(serial="IM-S1")
    assert (smoke.type, smoke.protocol, smoke.gb_address, smoke.gb_component, smoke.floor) == (
        "smoke", "gb26875", 1001, "1:1:7", "2F")  # fmt: skip
    assert smoke.panel == Device.objects.get(serial="IM-P1") and smoke.institution_id == home.pk
    pressure = Device.objects.get(serial="IM-W1")
    assert (pressure.heartbeat_seconds, pressure.grace_seconds) == (120, 60)
    assert pressure.thresholds == {"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}
    assert Device.objects.get(serial="IM-G1").institution_id == institutions["rc_funeral"].pk
    assert AuditEvent.objects.filter(action="device.import").count() == 1


def test_any_bad_row_refuses_the_whole_file_with_every_problem_listed(
    rencheng_officer: Any, home: Institution, institutions: Any
) -> None:
    raw(institutions["zc_elderly"], "ZC-1")
    data = xlsx([
        row(USCC, "smoke", "好的一行", "OK-1", "mqtt"),
        row("邹城市钢山养老中心", "smoke", "范围外", "BAD-1", "mqtt"),
        row(USCC, "激光探测器", "未知类型", "BAD-2", "mqtt"),
        row(USCC, "smoke", "地址错", "BAD-3", "gb26875", gb_address=1, gb_component="1-1"),
        row(USCC, "smoke", "无地址", "BAD-4", "gb26875"),
        row(USCC, "water_pressure", "阈值错", "BAD-5", "mqtt", thresholds='{"pressure": {"min": 2, "max": 1}}'),
        row(USCC, "smoke", "重复", "OK-1", "mqtt", heartbeat_seconds=5),
        row(USCC, "smoke", "范围外序列号", "ZC-1", "mqtt"),
        row(USCC, "smoke", "控制器错", "BAD-6", "mqtt", panel="OK-1"),
        row(USCC, "smoke", "", "BAD-7", "", heartbeat_seconds="abc"),
    ])  # fmt: skip
    with pytest.raises(ImportRefused) as caught:
        services.import_devices(rencheng_officer, data, "设备.xlsx")
    found = {(e.line, e.column) for e in caught.value.errors}
    assert found == {
        (3, "机构"), (4, "设备类型"), (5, "部件地址"), (6, "传输装置地址"), (7, "阈值(JSON)"), (8, "序列号/IMEI"),
        (8, "心跳周期(秒)"), (9, "序列号/IMEI"), (10, "所属控制器序列号"), (11, "设备名称"), (11, "通信协议"),
        (11, "心跳周期(秒)"),
    }  # fmt: skip
    messages = {(e.line, e.column): e.message for e in caught.value.errors}
    assert messages[(3, "机构")] == _("No institution “%(key)s” in your scope.") % {
        "key": "邹城市钢山养老中心"
    }
    assert messages[(8, "序列号/IMEI")] == _("Same serial number as line %(line)d.") % {"line": 2}
    assert messages[(9, "序列号/IMEI")] == _("Serial number %(serial)s is already registered.") % {
        "serial": "ZC-1"
    }
    assert messages[(11, "通信协议")] == _("This column is required.")
    assert [e.line for e in caught.value.errors] == sorted(e.line for e in caught.value.errors)
    assert list(Device.objects.values_list("serial", flat=True)) == ["ZC-1"]
    assert not AuditEvent.objects.filter(action__startswith="device.").exists()


def test_a_registered_serial_in_scope_is_updated(rencheng_officer: Any, home: Institution) -> None:
    device = register(rencheng_officer, home, "UP-1", name="旧名")
    data = xlsx([row(USCC, "water_pressure", "新名", "UP-1", "mqtt", room="泵房")])
    result = services.import_devices(rencheng_officer, data, "设备.xlsx")
    assert (result.created, result.updated) == (0, 1)
    device.refresh_from_db()
    assert (device.name, device.room) == ("新名", "泵房")
    assert AuditEvent.objects.get(action="device.change").changes["name"] == ["旧名", "新名"]


def test_the_whole_file_problems(rencheng_officer: Any, home: Institution) -> None:
    cases = [
        (xlsx([], headers=services.HEADERS), "a.xlsx", _("The file has no data rows.")),
        (
            xlsx([["x"]], headers=["机构", "颜色"]),
            "a.xlsx",
            _("Unknown column “%(column)s”.") % {"column": "颜色"},
        ),
        (b"not a zip", "a.xlsx", _("The file is not a readable XLSX workbook.")),
        (xlsx([row(USCC, "smoke", "x", "S", "mqtt")]), "a.csv", _("Only .xlsx files can be imported.")),
    ]
    for data, name, message in cases:
        with pytest.raises(ImportRefused) as caught:
            services.import_devices(rencheng_officer, data, name)
        assert message in [e.message for e in caught.value.errors]
    assert not Device.objects.exists()


def test_import_needs_the_import_permission(make_user: Any, tree: dict[str, Any], home: Institution) -> None:
    lead = make_user("lead", roles=["sector_lead"], region=tree["city"])
    with pytest.raises(NotPermitted):
        services.import_devices(lead, xlsx([row(USCC, "smoke", "x", "S-1", "mqtt")]), "a.xlsx")
    assert not Device.objects.exists()


def test_an_export_reads_back_unchanged(client: Any, rencheng_officer: Any, home: Institution) -> None:
    panel = register(
        rencheng_officer, home, "RB-P", type="panel", protocol="gb26875", gb_address=9, gb_component="1:1"
    )
    register(rencheng_officer, home, "RB-S", type="smoke", protocol="gb26875", gb_address=9, gb_component="1:1:1",
             panel=panel, thresholds={"temp": {"max": 60}})  # fmt: skip
    login_client(client, rencheng_officer)
    exported = client.get(reverse("firewatch:device_export")).content
    result = services.import_devices(rencheng_officer, exported, "export.xlsx")
    assert (result.created, result.updated) == (0, 2)
    assert not AuditEvent.objects.filter(action="device.change").exists()  # nothing differed


def test_the_import_page_and_template(client: Any, rencheng_officer: Any, home: Institution) -> None:
    login_client(client, rencheng_officer)
    template = client.get(reverse("firewatch:device_import_template"))
    assert template.status_code == 200
    headers = next(load_workbook(io.BytesIO(template.content)).worksheets[0].iter_rows(values_only=True))
    assert list(headers) == services.HEADERS
    assert client.get(reverse("firewatch:device_import")).status_code == 200
    bad = xlsx([row(USCC, "smoke", "ok", "P-1", "mqtt"), row(USCC, "nope", "bad", "P-2", "mqtt")])
    page = client.post(reverse("firewatch:device_import"), {"file": SimpleUploadedFile("d.xlsx", bad)})
    assert page.status_code == 400 and not Device.objects.exists()
    assert [(e.line, e.column) for e in page.context["errors"]] == [(3, "设备类型")]
    assert "设备类型" in page.content.decode()
    assert "import_errors.html" in {t.name for t in page.templates}
    good = xlsx([row(USCC, "smoke", "ok", "P-1", "mqtt")])
    done = client.post(reverse("firewatch:device_import"), {"file": SimpleUploadedFile("d.xlsx", good)})
    assert done.status_code == 302 and Device.objects.get().serial == "P-1"
