"""What the ingest adapters share: parsing the JSON signal form, finding devices, and recording batches.

Adapters (MQTT in `mqtt.py`, HTTP push in `push.py`, GB/T 26875.3 in `gb_server.py`) turn what they
receive into `Incoming(key, SignalIn)` and hand batches to a `Recorder`, which finds the devices (kept
in memory for `DEVICE_CACHE_SECONDS`, so heartbeats of known devices cost no query) and calls
`services.record_signals` — one transaction per batch. An adapter acknowledges what it received only
after `record` has returned (committed).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from minan.firewatch.models import Device

from .services import SIGNAL_TYPES, Outcome, SignalIn, can_alarm, record_signals

log = logging.getLogger("minan.ingest")

DEVICE_CACHE_SECONDS = 60
MAX_BATCH = 500


class BadSignal(ValueError):
    """A signal that cannot be recorded as given; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DeviceKey:
    """How an adapter names a device: by serial (MQTT, HTTP) or GB/T 26875.3 address and component."""

    serial: str = ""
    gb_address: int | None = None
    gb_component: str = ""


@dataclass
class Incoming:
    key: DeviceKey
    signal: SignalIn


@dataclass
class Result:
    """`error` is "" when recorded (or a duplicate), else why not: `unknown_device`, `inactive`, or
    `unknown_address` (GB/T 26875.3: no device at all is registered at the frame's source address)."""

    error: str = ""
    outcome: Outcome | None = None


def parse_signal(data: Any, *, default_message_id: str | None = None) -> SignalIn:
    """The documented JSON form (docs/firewatch.md): {"type", "code", "value", "unit", "timestamp",
    "message_id"}. Raises BadSignal naming the field."""
    if not isinstance(data, dict):
        raise BadSignal("signal", "a signal is a JSON object")
    kind = data.get("type")
    if kind not in SIGNAL_TYPES:
        raise BadSignal("type", f"type must be one of {', '.join(sorted(SIGNAL_TYPES))}")
    at: dt.datetime | None = None
    stamp = data.get("timestamp")
    if stamp not in (None, ""):
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            try:
                at = dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)
            except (OverflowError, OSError, ValueError):
                raise BadSignal("timestamp", "timestamp out of range") from None
        elif isinstance(stamp, str):
            try:
                at = parse_datetime(stamp)
            except ValueError:
                at = None
            if at is None:
                raise BadSignal("timestamp", "timestamp must be ISO 8601 or Unix seconds")
            if timezone.is_naive(at):
                at = timezone.make_aware(at)
        else:
            raise BadSignal("timestamp", "timestamp must be ISO 8601 or Unix seconds")
    message_id = data.get("message_id", default_message_id)
    if message_id is not None and (not isinstance(message_id, str | int) or len(str(message_id)) > 100):
        raise BadSignal("message_id", "message_id is a string of at most 100 characters")
    if isinstance(message_id, str) and message_id.startswith("~"):  # MinAn's own ids for signals without one
        raise BadSignal("message_id", "message_id must not start with ~ (reserved)")
    value = data.get("value", "")
    if isinstance(value, dict | list):
        raise BadSignal("value", "value is a number or a string")
    code = data.get("code", "")
    unit = data.get("unit", "")
    if not isinstance(code, str) or len(code) > 40 or not isinstance(unit, str) or len(unit) > 20:
        raise BadSignal("code", "code (≤ 40) and unit (≤ 20) are short strings")
    return SignalIn(
        type=kind,
        code=code,
        value="" if value is None else str(value),
        unit=unit,
        at=at,
        message_id=None if message_id in (None, "") else str(message_id),
    )


class Recorder:
    """Finds devices and records batches. One per thread (it holds device objects between batches)."""

    def __init__(self, cache_seconds: float = DEVICE_CACHE_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self._devices: dict[DeviceKey, tuple[float, Device | None]] = {}
        # GB/T 26875.3 addresses looked up with their keys: whether any device is registered there.
        self._addresses: dict[int, bool] = {}

    def _lookup(self, keys: set[DeviceKey]) -> None:
        clock = time.monotonic()
        missing = {k for k in keys if k not in self._devices or self._devices[k][0] < clock}
        if not missing:
            return
        serials = {k.serial for k in missing if k.serial}
        found: dict[DeviceKey, Device] = {}
        if serials:
            for device in Device.objects.filter(serial__in=serials).select_related("institution"):
                found[DeviceKey(serial=device.serial)] = device
        addresses = {k.gb_address for k in missing if k.gb_address is not None}
        if addresses:
            registered = set()
            for device in Device.objects.filter(gb_address__in=addresses).select_related("institution"):
                found[DeviceKey(gb_address=device.gb_address, gb_component=device.gb_component)] = device
                registered.add(device.gb_address)
            for address in addresses:
                self._addresses[address] = address in registered
        for key in missing:
            device = found.get(key)
            if device is None and key.gb_address is not None:
                device = _most_specific(key, found)
            self._devices[key] = (clock + self.cache_seconds, device)

    def forget(self) -> None:
        self._devices.clear()
        self._addresses.clear()

    def record_fresh(self, items: list[Incoming], *, urgent_first: bool = False) -> list[Result]:
        """`record` for a long-running loop outside any request: first drop a database connection that
        broke or outlived CONN_MAX_AGE (a web request gets that from Django; a loop does not)."""
        close_old_connections()
        return self.record(items, urgent_first=urgent_first)

    def record(
        self, items: list[Incoming], *, now: dt.datetime | None = None, urgent_first: bool = False
    ) -> list[Result]:
        """Record a batch; results in the same order. Raises only on a database failure (nothing must be
        acknowledged then).

        `urgent_first`: the signals that can raise or clear an alarm (alarms, faults, restores, readings
        with a threshold) are committed in a transaction of their own before the rest (heartbeats,
        plain readings, events), so a fire alarm waits for a few rows, not for a batch of thousands of
        readings. Each device's urgent signals keep their order. If the second transaction fails, the
        first stays committed; the batch is delivered again and the message ids make the first part's
        signals duplicates."""
        self._lookup({i.key for i in items})
        results: list[Result] = [Result() for _ in items]
        known: list[tuple[int, Device, SignalIn]] = []
        for index, item in enumerate(items):
            device = self._devices[item.key][1]
            if device is None:
                address = item.key.gb_address
                unknown = address is not None and not self._addresses.get(address, True)
                results[index].error = "unknown_address" if unknown else "unknown_device"
            elif not device.active:
                results[index].error = "inactive"
            else:
                known.append((index, device, item.signal))
        groups = [known] if known else []
        if urgent_first and known:
            urgent: list[tuple[int, Device, SignalIn]] = []
            rest: list[tuple[int, Device, SignalIn]] = []
            for entry in known:
                (urgent if can_alarm(entry[1], entry[2]) else rest).append(entry)
            if urgent and rest:
                groups = [urgent, rest]
        for group in groups:
            outcomes = record_signals([(d, s) for _i, d, s in group], now=now)
            for (index, _d, _s), outcome in zip(group, outcomes, strict=True):
                results[index].outcome = outcome
        return results


def _most_specific(key: DeviceKey, found: dict[DeviceKey, Device]) -> Device | None:
    """GB/T 26875.3: the component if registered, else its system (panel), else the transmission
    device. Components are "system_type:system_address:component_address"."""
    parts = key.gb_component.split(":") if key.gb_component else []
    for depth in (3, 2, 0):
        if len(parts) >= depth:
            candidate = found.get(DeviceKey(gb_address=key.gb_address, gb_component=":".join(parts[:depth])))
            if candidate is not None:
                return candidate
    return None
