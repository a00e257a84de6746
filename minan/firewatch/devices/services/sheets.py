"""The device spreadsheet: the import file's format, its template, the export rows and the import.

- `import_devices`: an xlsx file, all or nothing; every problem listed by line and column. Institutions are
  named by their unified social credit code or exact name, inside the actor's scope; a serial already
  registered (inside the scope) updates that device.
- `template_bytes` / `export_rows`: the file format (Chinese headers, constants by design like the other
  imports); an export reads back through the import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import limits, xlsx
from minan.core.audit.services import diff, record, snapshot
from minan.core.xlsx import RowError, cell_text, read_table, sheets_bytes, spellings, squash
from minan.firewatch.models import Device
from minan.institutions.models import Institution

from .registry import (
    ADD_PERMISSION,
    AUDITED,
    CHANGE_PERMISSION,
    HEARTBEAT_MIN,
    IMPORT_PERMISSION,
    _require,
    _save,
    in_maintenance_now,
    problems,
    threshold_problems,
)

# --- the file format -----------------------------------------------------------------------------------------------

SHEET_TITLE = "设备"
HELP_SHEET_TITLE = "填写说明"
# (field, header): "*" marks a required column. The export adds the read-only EXPORT_ONLY columns.
COLUMNS: list[tuple[str, str]] = [
    ("institution", "机构*"),
    ("type", "设备类型*"),
    ("name", "设备名称*"),
    ("serial", "序列号/IMEI*"),
    ("protocol", "通信协议*"),
    ("building", "楼栋"),
    ("floor", "楼层"),
    ("room", "位置"),
    ("vendor", "厂家"),
    ("gb_address", "传输装置地址"),
    ("gb_component", "部件地址"),
    ("panel", "所属控制器序列号"),
    ("heartbeat_seconds", "心跳周期(秒)"),
    ("grace_seconds", "宽限(秒)"),
    ("thresholds", "阈值(JSON)"),
]
EXPORT_ONLY = ["状态", "最后信号", "维护至", "在用"]
# The header row: the headers above (without "*") or these other spellings; the export-only columns skipped.
FORMAT = xlsx.Columns(
    COLUMNS,
    aliases={
        "机构名称": "institution",
        "统一社会信用代码": "institution",
        "序列号": "serial",
        "IMEI": "serial",
        "房间": "room",
    },
    ignore=EXPORT_ONLY,
)
HEADERS = FORMAT.headers
COLUMN_NAME = FORMAT.names
TYPE_NAMES = {
    "smoke": "感烟火灾探测器", "heat": "感温火灾探测器", "call_point": "手动火灾报警按钮",
    "panel": "火灾报警控制器", "transmitter": "用户信息传输装置", "electrical": "电气火灾监控探测器",
    "water_pressure": "水压传感器", "water_level": "液位传感器", "gas": "可燃气体探测器",
    "gas_valve": "燃气紧急切断阀", "other": "其他",
}  # fmt: skip
PROTOCOL_NAMES = {"mqtt": "MQTT", "http": "HTTP", "gb26875": "GB/T 26875.3"}
STATUS_NAMES = {"unknown": "未上线", "online": "在线", "offline": "离线"}
YES, NO = "是", "否"
MAX_ROWS = 5000


def template_bytes() -> bytes:
    """The empty import file: the header row, and a sheet explaining the columns."""
    help_rows = [
        ["机构", "统一社会信用代码或机构全称（须在您的管辖范围内）"],
        ["设备类型", "、".join(TYPE_NAMES.values())],
        ["序列号/IMEI", "全局唯一；已登记的序列号（在您的管辖范围内）将更新该设备"],
        ["通信协议", "、".join(PROTOCOL_NAMES.values())],
        ["传输装置地址", "GB/T 26875.3 设备必填：用户信息传输装置的6字节地址（十进制整数）"],
        [
            "部件地址",
            "传输装置本身留空；系统（如控制器）填 系统类型:系统地址，如 1:1；部件填 系统类型:系统地址:部件地址，如 1:1:23",
        ],
        ["所属控制器序列号", "可选：同一机构的火灾报警控制器的序列号（可为本文件中的行）"],
        ["心跳周期(秒)", f"默认 300，不少于 {HEARTBEAT_MIN}"],
        ["宽限(秒)", "默认 60，不少于 0"],
        ["阈值(JSON)", '如 {"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}'],
        ["说明", "任何一行有错误时整个文件都不导入，并按行列出全部错误"],
    ]
    data, _count = sheets_bytes([(SHEET_TITLE, HEADERS, []), (HELP_SHEET_TITLE, ["列", "说明"], help_rows)])
    return data


def export_rows(qs: QuerySet[Device]) -> Iterable[list[Any]]:
    """The rows of the export: the import's columns, then the read-only ones."""
    now = timezone.now()
    for d in qs.select_related("institution", "panel"):
        yield [
            d.institution.uscc or d.institution.name, TYPE_NAMES.get(d.type, d.type), d.name, d.serial,
            PROTOCOL_NAMES.get(d.protocol, d.protocol), d.building, d.floor, d.room, d.vendor,
            d.gb_address, d.gb_component, d.panel.serial if d.panel else "", d.heartbeat_seconds,
            d.grace_seconds, json.dumps(d.thresholds, ensure_ascii=False) if d.thresholds else "",
            STATUS_NAMES.get(d.status, d.status), d.last_signal_at,
            d.maintenance_until if in_maintenance_now(d, now) else None, YES if d.active else NO,
        ]  # fmt: skip


# --- import ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


class _CellError(Exception):
    pass


def _whole(value: Any, *, default: int | None) -> int | None:
    if isinstance(value, bool):
        raise _CellError(_("Enter a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = cell_text(value)
    if not text:
        return default
    if re.fullmatch(r"\d+", text):
        return int(text)
    raise _CellError(_("Enter a whole number."))


def _thresholds(value: Any) -> dict[str, Any]:
    text = cell_text(value)
    if not text:
        return {}
    try:
        parsed = limits.loads(text)  # depth-limited: deep nesting is a cell error, not a RecursionError
    except limits.BodyRefused:
        raise _CellError(
            _('Enter the thresholds as a JSON object, e.g. {"pressure": {"min": 0.1, "max": 1.2}}.')
        ) from None
    problem = threshold_problems(parsed)
    if problem:
        raise _CellError(" ".join(problem))
    return dict(parsed)


def read_rows(file: str | Path | bytes | IO[Any], filename: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, {field: raw cell}) for every non-blank data row of the first sheet; ImportRefused for
    problems of the whole file."""
    return read_table(file, filename, FORMAT.map, MAX_ROWS)


@dataclass
class _Planned:
    line: int
    values: dict[str, Any]
    panel_serial: str
    existing: Device | None


def _institution_lookup(
    actor: Any, rows: list[tuple[int, dict[str, Any]]]
) -> tuple[dict[str, Institution], dict[str, list[Institution]]]:
    keys = {cell_text(row.get("institution")) for _line, row in rows} - {""}
    in_scope = Institution.objects.for_user(actor).filter(
        Q(uscc__in={k.upper() for k in keys}) | Q(name__in=keys)
    )
    by_uscc: dict[str, Institution] = {}
    by_name: dict[str, list[Institution]] = {}
    for institution in in_scope:
        if institution.uscc:
            by_uscc[institution.uscc.upper()] = institution
        by_name.setdefault(institution.name, []).append(institution)
    return by_uscc, by_name


def check_import(actor: Any, rows: list[tuple[int, dict[str, Any]]]) -> list[_Planned]:
    """Every row checked; ImportRefused lists every problem by line and column."""
    types = spellings(Device.Type.choices, TYPE_NAMES)
    protocols = spellings(Device.Protocol.choices, PROTOCOL_NAMES)
    by_uscc, by_name = _institution_lookup(actor, rows)
    serials = [cell_text(row.get("serial")) for _line, row in rows]
    known = {d.serial: d for d in Device.objects.filter(serial__in=[s for s in serials if s])}
    editable = set(
        Device.objects.for_user(actor, "change")
        .filter(pk__in=[d.pk for d in known.values()])
        .values_list("pk", flat=True)
    )
    may_change = actor.has_perm(CHANGE_PERMISSION)
    errors: list[RowError] = []
    planned: list[_Planned] = []
    seen_serial: dict[str, int] = {}
    seen_gb: dict[tuple[int, str], int] = {}
    for line, row in rows:

        def fail(name: str, message: str, line: int = line) -> None:
            errors.append(RowError(line, COLUMN_NAME.get(name, ""), message))

        values: dict[str, Any] = {"gb_address": None, "gb_component": "", "panel": None, "thresholds": {},
                                  "heartbeat_seconds": 300, "grace_seconds": 60}  # fmt: skip
        for name in ("name", "serial", "building", "floor", "room", "vendor", "gb_component"):
            values[name] = cell_text(row.get(name))
        key = cell_text(row.get("institution"))
        institution = by_uscc.get(key.upper())
        if institution is None and key:
            named = by_name.get(key, [])
            if len(named) > 1:
                fail(
                    "institution",
                    _("Several institutions are called “%(name)s”; use the unified social credit code.")
                    % {"name": key},
                )
            institution = named[0] if len(named) == 1 else None
        if institution is None and not key:
            fail("institution", _("Enter the institution's unified social credit code or exact name."))
        elif institution is None and not any(e.line == line for e in errors):
            fail("institution", _("No institution “%(key)s” in your scope.") % {"key": key})
        values["institution"] = institution
        for name, lookup, allowed in (("type", types, TYPE_NAMES), ("protocol", protocols, PROTOCOL_NAMES)):
            text = cell_text(row.get(name))
            values[name] = lookup.get(squash(text)) if text else None
            if text and values[name] is None:
                fail(name, _("Unknown value “%(value)s”; allowed: %(allowed)s.") % {
                    "value": text, "allowed": "、".join(allowed.values())})  # fmt: skip
        readers: dict[str, Any] = {
            "gb_address": lambda v: _whole(v, default=None),
            "heartbeat_seconds": lambda v: _whole(v, default=300),
            "grace_seconds": lambda v: _whole(v, default=60),
            "thresholds": _thresholds,
        }
        for name, reader in readers.items():
            try:
                values[name] = reader(row.get(name))
            except _CellError as exc:
                fail(name, str(exc))
        failed = {e.column for e in errors if e.line == line}
        for name, message in problems(values, unique=False):
            if name == "institution" or COLUMN_NAME.get(name, "") in failed:
                continue  # reported above
            if name in {"type", "protocol"} and not cell_text(row.get(name)):
                message = _("This column is required.")
            fail(name, message)
        serial = values["serial"]
        existing = known.get(serial) if serial else None
        if serial and serial in seen_serial:
            fail("serial", _("Same serial number as line %(line)d.") % {"line": seen_serial[serial]})
        elif existing is not None and (existing.pk not in editable or not may_change):
            fail("serial", _("Serial number %(serial)s is already registered.") % {"serial": serial})
        if serial:
            seen_serial.setdefault(serial, line)
        if values.get("protocol") == Device.Protocol.GB26875 and isinstance(values.get("gb_address"), int):
            pair = (values["gb_address"], values["gb_component"])
            if pair in seen_gb:
                fail(
                    "gb_component",
                    _("Same GB/T 26875.3 address and component as line %(line)d.") % {"line": seen_gb[pair]},
                )
            seen_gb.setdefault(pair, line)
        planned.append(_Planned(line, values, cell_text(row.get("panel")), existing))
    # Addresses taken by devices not in the file (or in the file under another serial).
    if seen_gb:
        addresses = {a for a, _c in seen_gb}
        for other in Device.objects.filter(gb_address__in=addresses).only(
            "serial", "gb_address", "gb_component"
        ):
            at_line = seen_gb.get((other.gb_address or 0, other.gb_component))
            if at_line is not None and other.serial not in seen_serial:
                errors.append(RowError(at_line, COLUMN_NAME["gb_component"],
                                       _("Another device has this GB/T 26875.3 address and component.")))  # fmt: skip
    # Panels: a panel of the same institution, registered in the scope or a row of this file.
    by_serial = {p.values["serial"]: p for p in planned}
    panel_serials = {p.panel_serial for p in planned if p.panel_serial and p.panel_serial not in by_serial}
    registered = {d.serial: d for d in Device.objects.for_user(actor).filter(serial__in=panel_serials)}
    for p in planned:
        if not p.panel_serial:
            continue
        in_file = by_serial.get(p.panel_serial)
        institution = p.values.get("institution")
        if in_file is not None:
            ok = (
                in_file.values.get("type") == Device.Type.PANEL
                and in_file.values.get("institution") == institution
            )
        else:
            panel = registered.get(p.panel_serial)
            ok = (
                panel is not None
                and panel.type == Device.Type.PANEL
                and panel.institution_id == getattr(institution, "pk", None)
            )
            p.values["panel"] = panel if ok else None
        if p.panel_serial == p.values["serial"] or not ok:
            errors.append(RowError(p.line, COLUMN_NAME["panel"],
                                   _("Choose a fire-alarm control panel of the same institution.")))  # fmt: skip
    if errors:
        raise FORMAT.refused(errors)
    return planned


@transaction.atomic
def import_devices(
    actor: Any, file: str | Path | bytes | IO[Any], filename: str = "devices.xlsx", *, request: Any = None
) -> ImportResult:
    """Register (or update, by serial) the file's devices: all of them, or nothing (ImportRefused)."""
    _require(actor, IMPORT_PERMISSION)
    _require(actor, ADD_PERMISSION)
    planned = check_import(actor, read_rows(file, filename))
    created = updated = 0
    saved: dict[str, Device] = {}
    befores: dict[str, dict[str, Any]] = {}
    for p in planned:  # panels named by serial are linked in a second pass (they may come later)
        values = dict(p.values)  # a panel that is a row of this file is linked below, once it is saved
        if p.existing is None:
            device = Device(region_path=values["institution"].region_path, **values)
            created += 1
        else:
            device = Device.objects.select_for_update(of=("self",)).get(pk=p.existing.pk)
            before = snapshot(device, AUDITED)
            for name, value in values.items():
                setattr(device, name, value)
            device.region_path = device.institution.region_path
            befores[device.serial] = before
            updated += 1
        _save(device)
        saved[device.serial] = device
    for p in planned:
        if p.panel_serial and p.panel_serial in saved and p.values["panel"] is None:
            device = saved[p.values["serial"]]
            device.panel = saved[p.panel_serial]
            Device.objects.filter(pk=device.pk).update(panel=device.panel)
    for serial, old in befores.items():
        device = saved[serial]
        changes = diff(old, snapshot(device, AUDITED))
        if changes:
            record("device.change", user=actor, request=request, obj=device, changes=changes,
                   detail=f"{device.name} ({device.serial}); import")  # fmt: skip
    record("device.import", user=actor, request=request, object_type="firewatch.device",
           detail=f"{Path(filename).name[:100]}: {created} created, {updated} updated")  # fmt: skip
    return ImportResult(created=created, updated=updated)
