"""The kinds of alarm: their labels, and which devices and kinds make up fire-system faults.

`alarm_label` names a kind for messages and exports (an unknown kind or reading keeps its code there, so
nothing is lost); `alarm_title` names it for the screens, which never show a code. `detail_facts` turns
an alarm's reported detail (`Alarm.detail`, `AlarmEvent.data`: a reading and its threshold, a fault
code, GB/T 26875.3 component fields) into labelled facts with units; the raw detail stays in the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.firewatch.models import Device

FIRE_SYSTEM = {
    Device.Type.SMOKE, Device.Type.HEAT, Device.Type.CALL_POINT, Device.Type.PANEL, Device.Type.TRANSMITTER,
    Device.Type.ELECTRICAL, Device.Type.WATER_PRESSURE, Device.Type.WATER_LEVEL,
}  # fmt: skip

FIRE_SYSTEM_FAULTS = {"fault", "offline"}


KIND_LABELS = {
    "fire": gettext_lazy("Fire alarm"),
    "supervisory": gettext_lazy("Supervisory alarm"),
    "gas": gettext_lazy("Combustible gas"),
    "fault": gettext_lazy("Fault"),
    "offline": gettext_lazy("Offline"),
    "power_fault": gettext_lazy("Power fault"),
    "isolated": gettext_lazy("Isolated"),
}

# Reading codes (`threshold:<code>` alarms): the demo's and the simulator's codes and the analog types
# of the GB/T 26875.3 codec (`ingest.gb26875.ANALOG_TYPES`).
READING_LABELS = {
    "pressure": gettext_lazy("Water pressure"),
    "level": gettext_lazy("Water level"),
    "height": gettext_lazy("Height"),
    "temperature": gettext_lazy("Temperature"),
    "current": gettext_lazy("Current"),
    "residual_current": gettext_lazy("Residual current"),
    "lel": gettext_lazy("Combustible gas concentration"),
    "gas": gettext_lazy("Combustible gas concentration"),
    "gas_concentration": gettext_lazy("Combustible gas concentration"),
    "voltage": gettext_lazy("Voltage"),
    "humidity": gettext_lazy("Humidity"),
    "flow": gettext_lazy("Flow"),
    "air_volume": gettext_lazy("Air volume"),
    "air_speed": gettext_lazy("Air speed"),
    "time": gettext_lazy("Time"),
    "event_count": gettext_lazy("Event count"),
}

# Fault codes in a fault alarm's detail: the GB/T 26875.3 codec's (`ingest.gb26875._STATUS_MAP`, the
# signal's code and value), the simulator's and the demo's.
FAULT_LABELS = {
    "fault": gettext_lazy("Fault"),
    "bus": gettext_lazy("Bus fault"),
    "monitored_line": gettext_lazy("Monitored line fault"),
    "power_fault": gettext_lazy("Power fault"),
    "power": gettext_lazy("Power fault"),
    "main_power": gettext_lazy("Main power fault"),
    "backup_power": gettext_lazy("Backup power fault"),
    "offline": gettext_lazy("Link to the monitoring centre lost"),
    "link_to_centre": gettext_lazy("Link to the monitoring centre lost"),
    "communication": gettext_lazy("Communication fault"),
    "isolated": gettext_lazy("Isolated"),
    "detector_dirty": gettext_lazy("Detector dirty"),
    "detector_removed": gettext_lazy("Detector removed"),
    "low_battery": gettext_lazy("Low battery"),
}


def alarm_label(kind: str) -> str:
    if kind.startswith("threshold:"):
        code = kind.split(":", 1)[1]
        reading = READING_LABELS.get(code)
        if reading is not None:
            return _("%(reading)s out of range") % {"reading": reading}
        return _("Threshold: %(code)s") % {"code": code}
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


def alarm_title(kind: str) -> str:
    """The kind as the screens name it: `alarm_label`, but never a code (an unknown reading is "a
    reading out of range", an unknown kind "another alarm"; the API and the export keep the code)."""
    if kind.startswith("threshold:") and kind.split(":", 1)[1] not in READING_LABELS:
        return _("Reading out of range")
    if not kind.startswith("threshold:") and kind not in KIND_LABELS:
        return _("Other alarm")
    return alarm_label(kind)


# The label translated when it is shown: a message renders it in each recipient's own language.
alarm_label_lazy = lazy(alarm_label, str)


def _when(raw: Any) -> str:
    found = raw if isinstance(raw, dt.datetime) else parse_datetime(str(raw or ""))
    if found is None:
        return ""
    if timezone.is_naive(found):
        found = timezone.make_aware(found)
    return timezone.localtime(found).strftime("%Y-%m-%d %H:%M:%S")


def _amount(value: Any, unit: Any) -> str:
    return f"{value} {unit}".strip() if unit else str(value)


def _limits(rule: Mapping[str, Any], unit: str) -> str:
    parts = []
    if rule.get("min") is not None:
        parts.append(_("at least %(value)s") % {"value": _amount(rule["min"], unit)})
    if rule.get("max") is not None:
        parts.append(_("at most %(value)s") % {"value": _amount(rule["max"], unit)})
    return "，".join(parts)


def _facts(kind: str, detail: Mapping[str, Any] | None, device: Device | None) -> list[tuple[str, str, str]]:
    """(what, label, text) rows; `what` names the fact for `summary`."""
    detail = detail or {}
    rows: list[tuple[str, str, str]] = []
    if kind.startswith("threshold:") and "value" in detail:
        code = kind.split(":", 1)[1]
        reading = READING_LABELS.get(code)
        unit = str(detail.get("unit") or "")
        rows.append(
            ("reading", str(reading) if reading is not None else _("Reading"), _amount(detail["value"], unit))
        )
        rule = (device.thresholds or {}).get(code) if device is not None else None
        if isinstance(rule, Mapping) and (limits := _limits(rule, unit)):
            rows.append(("range", _("Allowed range"), limits))
        if since := _when(detail.get("since")):
            rows.append(("since", _("Out of range since"), since))
    if code := str(detail.get("code") or ""):
        fault = FAULT_LABELS.get(code)
        if fault is None:
            rows.append(("fault", _("Fault"), _("A fault not in MinAn's list")))
        elif code != kind:  # a fault alarm whose code is only "fault" says nothing more
            rows.append(("fault", _("Fault"), str(fault)))
    if text := str(detail.get("description") or "").strip():
        rows.append(("component", _("Component"), text))
    zone, point = detail.get("component_zone"), detail.get("component_point")
    if zone is not None and point is not None:
        where = _("zone %(zone)s, point %(point)s") % {"zone": zone, "point": point}
        rows.append(("address", _("Component address"), where))
    if detail.get("test") is True:
        rows.append(("test", _("Test signal"), _("yes: the device was being tested")))
    if device_time := _when(detail.get("device_time")):
        clock = _("%(at)s (too far off: the server's time is used)") % {"at": device_time}
        rows.append(("clock", _("Device clock"), clock))
    return rows


def detail_facts(
    kind: str, detail: Mapping[str, Any] | None, device: Device | None = None
) -> list[tuple[str, str]]:
    """What a device reported with an alarm, as (label, text) rows for people: the reading with its
    unit and the device's allowed range, since when it was out of range, the fault, the GB/T 26875.3
    component (its description and zone/point address), a test signal, the device's own clock when it
    was not believed. Codes and fields without meaning to a reader (raw values, ADU types, frames) are
    left out: the API has them."""
    return [(label, text) for _what, label, text in _facts(kind, detail, device)]


def summary(kind: str, detail: Mapping[str, Any] | None, device: Device | None = None) -> str:
    """The one fact a board row shows under the kind: the reading with its allowed range, or the fault,
    or the component the device named."""
    facts = {what: text for what, _label, text in _facts(kind, detail, device)}
    if "reading" in facts:
        if "range" in facts:
            return _("%(reading)s (%(range)s)") % {"reading": facts["reading"], "range": facts["range"]}
        return facts["reading"]
    return facts.get("fault") or facts.get("component", "")
