"""The device registry (智慧消防): the writer of `Device` rows (with the spreadsheet import in `sheets`).

- `create_device` / `update_device`: every field checked (`problems`), every problem named by its field;
  nothing is written when one is wrong. Institution (and so the device) must lie inside the actor's scope.
- `set_maintenance` / `clear_maintenance`: the window inside which a device raises nothing
  (`firewatch.silence_device`; institution staff hold it for their own devices).
- `retire` / `reactivate`: `Device.active` (a retired device is left out of the offline sweep and ingest).

Every write is audited (`device.create`, `device.change`, `device.maintenance`, `device.maintenance_clear`,
`device.retire`, `device.reactivate`, `device.import`). Push credentials are `credentials`' business.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.firewatch.models import Device
from minan.institutions.models import Institution

ADD_PERMISSION = "firewatch.add_device"
CHANGE_PERMISSION = "firewatch.change_device"
IMPORT_PERMISSION = "firewatch.import_device"
SILENCE_PERMISSION = "firewatch.silence_device"

# What create_device and update_device accept (institution and panel as model instances).
FIELDS = ("institution", "type", "name", "building", "floor", "room", "vendor", "protocol", "serial",
          "gb_address", "gb_component", "panel", "heartbeat_seconds", "grace_seconds", "thresholds")  # fmt: skip
AUDITED = (*FIELDS, "active")
TEXT_LIMITS = {"name": 100, "building": 50, "floor": 20, "room": 50, "vendor": 100, "serial": 64}
GB_ADDRESS_MAX = 2**48 - 1
GB_COMPONENT_RE = re.compile(r"^(\d{1,3}):(\d{1,3})(?::(\d{1,10}))?$")
THRESHOLD_CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
THRESHOLD_KEYS = frozenset({"min", "max", "for_seconds"})
HEARTBEAT_MIN = 10
SECONDS_MAX = 7 * 24 * 3600
MAX_THRESHOLDS = 20


class DeviceInvalid(DomainError):
    """One or more fields are wrong; `problems` lists (field, message) for every one, `field` the first."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        field, message = problems[0]
        super().__init__(message, field=field, details=[{"field": f, "message": m} for f, m in problems])
        self.problems = list(problems)


# --- checks ----------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def threshold_problems(thresholds: Any) -> list[str]:
    """What is wrong with a thresholds value: {code: {"min"?, "max"?, "for_seconds"?}}."""
    if not isinstance(thresholds, dict):
        return [_('Enter the thresholds as a JSON object, e.g. {"pressure": {"min": 0.1, "max": 1.2}}.')]
    if len(thresholds) > MAX_THRESHOLDS:
        return [_("At most %(n)d threshold rules.") % {"n": MAX_THRESHOLDS}]
    found: list[str] = []
    for code, rule in thresholds.items():
        if not isinstance(code, str) or not THRESHOLD_CODE_RE.match(code):
            found.append(
                _("“%(code)s” is not a valid reading code (letters, digits, _ . -; at most 40).")
                % {"code": code}
            )
            continue
        if not isinstance(rule, dict) or not rule:
            found.append(_("%(code)s: give min and/or max.") % {"code": code})
            continue
        unknown = sorted(set(rule) - THRESHOLD_KEYS)
        if unknown:
            found.append(
                _("%(code)s: unknown key “%(key)s” (allowed: min, max, for_seconds).")
                % {"code": code, "key": unknown[0]}
            )
            continue
        low, high = rule.get("min"), rule.get("max")
        if low is None and high is None:
            found.append(_("%(code)s: give min and/or max.") % {"code": code})
        elif any(v is not None and not _is_number(v) for v in (low, high)):
            found.append(_("%(code)s: min and max must be numbers.") % {"code": code})
        elif low is not None and high is not None and not low < high:
            found.append(_("%(code)s: min must be less than max.") % {"code": code})
        if "for_seconds" in rule:
            wait = rule["for_seconds"]
            if not isinstance(wait, int) or isinstance(wait, bool) or not 0 <= wait <= SECONDS_MAX:
                found.append(
                    _("%(code)s: for_seconds must be a whole number of seconds from 0 to %(max)d.")
                    % {"code": code, "max": SECONDS_MAX}
                )
    return found


def gb_component_problem(value: str) -> str:
    """ "" when the GB/T 26875.3 component is "" (the transmission device itself), "type:address" (a
    system such as a panel) or "type:address:component" (decimal; component the raw uint32)."""
    if value == "":
        return ""
    match = GB_COMPONENT_RE.match(value)
    if match is None:
        return _(
            "Enter the component as system_type:system_address or system_type:system_address:component_address "
            "(decimal numbers, e.g. 1:1 or 1:1:23), or leave it empty for the transmission device itself."
        )
    system_type, system_address, component = match.groups()
    if int(system_type) > 255 or int(system_address) > 255:
        return _("System type and system address are 0 to 255.")
    if component is not None and int(component) > 2**32 - 1:
        return _("The component address is 0 to 4294967295.")
    return ""


def problems(
    values: Mapping[str, Any], *, device: Device | None = None, unique: bool = True
) -> list[tuple[str, str]]:
    """Every problem of a device's complete values as (field, message). `unique`: also check that the
    serial and the GB/T 26875.3 address are not taken by another device (the import checks in bulk)."""
    found: list[tuple[str, str]] = []
    if not isinstance(values.get("institution"), Institution):
        found.append(("institution", _("Choose an institution in your scope.")))
    if values.get("type") not in Device.Type.values:
        found.append(("type", _("Choose a device type from the list.")))
    if values.get("protocol") not in Device.Protocol.values:
        found.append(("protocol", _("Choose a protocol from the list.")))
    for name, limit in TEXT_LIMITS.items():
        text = values.get(name) or ""
        if not isinstance(text, str):
            found.append((name, _("Enter text.")))
        elif len(text) > limit:
            found.append((name, _("At most %(limit)d characters.") % {"limit": limit}))
    if not values.get("name"):
        found.append(("name", _("Enter the device's name.")))
    serial = values.get("serial") or ""
    if not serial:
        found.append(("serial", _("Enter the serial number or IMEI.")))
    elif isinstance(serial, str) and any(ch.isspace() for ch in serial):
        found.append(("serial", _("The serial number cannot contain spaces.")))
    elif unique and Device.objects.filter(serial=serial).exclude(pk=getattr(device, "pk", None)).exists():
        found.append(("serial", _("Serial number %(serial)s is already registered.") % {"serial": serial}))
    address, component = values.get("gb_address"), values.get("gb_component") or ""
    if values.get("protocol") == Device.Protocol.GB26875:
        if address is None:
            found.append(("gb_address", _("GB/T 26875.3 devices need the transmission device's address.")))
        elif not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= GB_ADDRESS_MAX:
            found.append(("gb_address", _("The address is a whole number from 0 to %(max)d (6 bytes).") % {
                "max": GB_ADDRESS_MAX}))  # fmt: skip
        problem = gb_component_problem(component) if isinstance(component, str) else _("Enter text.")
        if problem:
            found.append(("gb_component", problem))
        elif unique and isinstance(address, int) and not found_field(found, "gb_address"):
            taken = Device.objects.filter(gb_address=address, gb_component=component)
            if taken.exclude(pk=getattr(device, "pk", None)).exists():
                found.append(
                    ("gb_component", _("Another device has this GB/T 26875.3 address and component."))
                )
    else:
        if address is not None:
            found.append(("gb_address", _("Only GB/T 26875.3 devices have a GB/T 26875.3 address.")))
        if component:
            found.append(("gb_component", _("Only GB/T 26875.3 devices have a GB/T 26875.3 component.")))
    heartbeat, grace = values.get("heartbeat_seconds"), values.get("grace_seconds")
    if (
        not isinstance(heartbeat, int)
        or isinstance(heartbeat, bool)
        or not HEARTBEAT_MIN <= heartbeat <= SECONDS_MAX
    ):
        found.append(("heartbeat_seconds", _("The heartbeat period is %(min)d to %(max)d seconds.") % {
            "min": HEARTBEAT_MIN, "max": SECONDS_MAX}))  # fmt: skip
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= SECONDS_MAX:
        found.append(("grace_seconds", _("The grace is 0 to %(max)d seconds.") % {"max": SECONDS_MAX}))
    found.extend(("thresholds", message) for message in threshold_problems(values.get("thresholds")))
    panel = values.get("panel")
    if panel is not None:
        if not isinstance(panel, Device) or panel.type != Device.Type.PANEL:
            found.append(("panel", _("Choose a fire-alarm control panel of the same institution.")))
        elif device is not None and panel.pk == device.pk:
            found.append(("panel", _("A device cannot be its own panel.")))
        elif (
            isinstance(values.get("institution"), Institution)
            and panel.institution_id != values["institution"].pk
        ):
            found.append(("panel", _("Choose a fire-alarm control panel of the same institution.")))
    return found


def found_field(found: list[tuple[str, str]], name: str) -> bool:
    return any(field == name for field, _message in found)


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise DomainError(_("Unknown field: %(name)s.") % {"name": sorted(unknown)[0]})
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in TEXT_LIMITS or name == "gb_component":
            value = (value or "").strip() if isinstance(value, str) or value is None else value
        if name == "thresholds" and value is None:
            value = {}
        cleaned[name] = value
    return cleaned


def _require(actor: Any, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise NotPermitted(_("You do not have permission to do this."))


def _institution_in_scope(actor: Any, institution: Any) -> bool:
    return isinstance(institution, Institution) and (
        Institution.objects.for_user(actor).filter(pk=institution.pk).exists()
    )


def _locked(actor: Any, device: Device, action: str) -> Device:
    """The device re-read inside the actor's scope and locked; OutOfScope (404) when outside."""
    found = (
        Device.objects.for_user(actor, action).select_for_update(of=("self",)).filter(pk=device.pk).first()
    )
    if found is None:
        raise OutOfScope(_("Device not found."))
    return found


def _values_of(device: Device) -> dict[str, Any]:
    return {name: getattr(device, name) for name in FIELDS}


def _save(device: Device) -> None:
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError:
        raise DeviceInvalid(
            [("serial", _("Serial number %(serial)s is already registered.") % {"serial": device.serial})]
        ) from None


# --- create, change ----------------------------------------------------------------------------------------------


@transaction.atomic
def create_device(actor: Any, institution: Institution, *, request: Any = None, **fields: Any) -> Device:
    """Register a device at an institution inside the actor's scope (`firewatch.add_device`)."""
    _require(actor, ADD_PERMISSION)
    values = {"heartbeat_seconds": 300, "grace_seconds": 60, "thresholds": {}, "gb_address": None,
              "gb_component": "", "panel": None, **_clean({**fields, "institution": institution})}  # fmt: skip
    if not _institution_in_scope(actor, institution):
        raise DeviceInvalid([("institution", _("Choose an institution in your scope."))])
    found = problems(values)
    if found:
        raise DeviceInvalid(found)
    device = Device(region_path=institution.region_path, **values)
    _save(device)
    record("device.create", user=actor, request=request, obj=device, detail=f"{device.name} ({device.serial})",
           changes=diff({}, snapshot(device, AUDITED)))  # fmt: skip
    return device


@transaction.atomic
def update_device(actor: Any, device: Device, *, request: Any = None, **fields: Any) -> Device:
    """Change a device inside the actor's scope (`firewatch.change_device`); a move to another institution
    must stay inside the scope. Returns the saved device."""
    _require(actor, CHANGE_PERMISSION)
    target = _locked(actor, device, "change")
    values = {**_values_of(target), **_clean(fields)}
    if "institution" in fields and not _institution_in_scope(actor, values["institution"]):
        raise DeviceInvalid([("institution", _("Choose an institution in your scope."))])
    moved_away = "institution" in fields and "panel" not in fields and values["panel"] is not None
    if moved_away and values["panel"].institution_id != values["institution"].pk:
        values["panel"] = None  # the old panel stays behind at the old institution
    found = problems(values, device=target)
    if found:
        raise DeviceInvalid(found)
    before = snapshot(target, AUDITED)
    for name, value in values.items():
        setattr(target, name, value)
    target.region_path = target.institution.region_path
    _save(target)
    changes = diff(before, snapshot(target, AUDITED))
    if changes:
        record("device.change", user=actor, request=request, obj=target, changes=changes,
               detail=f"{target.name} ({target.serial})")  # fmt: skip
    return target


# --- maintenance, retire -----------------------------------------------------------------------------------------


@transaction.atomic
def set_maintenance(
    actor: Any,
    device: Device,
    start: dt.datetime | None,
    end: dt.datetime | None,
    reason: str,
    *,
    request: Any = None,
) -> Device:
    """Set the window inside which the device raises nothing (`firewatch.silence_device`). `start` None is
    now; `end` is required, after the start and in the future; the reason is required."""
    _require(actor, SILENCE_PERMISSION)
    target = _locked(actor, device, "view")
    now = timezone.now()
    start = start or now
    reason = (reason or "").strip()
    found: list[tuple[str, str]] = []
    if end is None:
        found.append(("end", _("Enter when the maintenance ends.")))
    elif timezone.is_naive(end) or timezone.is_naive(start):
        found.append(("end", _("Enter a date and time.")))
    elif end <= start:
        found.append(("end", _("The end must be after the start.")))
    elif end <= now:
        found.append(("end", _("The end must be in the future.")))
    if not reason:
        found.append(("reason", _("State the reason for the maintenance.")))
    elif len(reason) > 200:
        found.append(("reason", _("At most %(limit)d characters.") % {"limit": 200}))
    if found:
        raise DeviceInvalid(found)
    fields = {"maintenance_from": start, "maintenance_until": end, "maintenance_reason": reason}
    before = snapshot(target, fields)
    Device.objects.filter(pk=target.pk).update(**fields)
    for name, value in fields.items():
        setattr(target, name, value)
    record("device.maintenance", user=actor, request=request, obj=target, detail=reason,
           changes=diff(before, snapshot(target, fields)))  # fmt: skip
    return target


@transaction.atomic
def clear_maintenance(actor: Any, device: Device, *, request: Any = None) -> Device:
    _require(actor, SILENCE_PERMISSION)
    target = _locked(actor, device, "view")
    if target.maintenance_from is None and target.maintenance_until is None:
        return target
    fields = {"maintenance_from": None, "maintenance_until": None, "maintenance_reason": ""}
    before = snapshot(target, fields)
    Device.objects.filter(pk=target.pk).update(**fields)
    for name, value in fields.items():
        setattr(target, name, value)
    record("device.maintenance_clear", user=actor, request=request, obj=target,
           changes=diff(before, snapshot(target, fields)), detail=target.serial)  # fmt: skip
    return target


def _set_active(actor: Any, device: Device, active: bool, request: Any) -> Device:
    _require(actor, CHANGE_PERMISSION)
    target = _locked(actor, device, "change")
    if target.active == active:
        return target
    Device.objects.filter(pk=target.pk).update(active=active)
    target.active = active
    record("device.reactivate" if active else "device.retire", user=actor, request=request, obj=target,
           changes={"active": [not active, active]}, detail=target.serial)  # fmt: skip
    return target


@transaction.atomic
def retire(actor: Any, device: Device, *, request: Any = None) -> Device:
    """Take the device out of service: the offline sweep and the ingest adapters leave it alone."""
    return _set_active(actor, device, False, request)


@transaction.atomic
def reactivate(actor: Any, device: Device, *, request: Any = None) -> Device:
    return _set_active(actor, device, True, request)


def in_maintenance_now(device: Device, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return bool(device.maintenance_until and device.maintenance_until >= now and
                (device.maintenance_from is None or device.maintenance_from <= now))  # fmt: skip
