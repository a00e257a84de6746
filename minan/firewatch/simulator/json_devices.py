"""The simulator behind `minan simulate`: registered devices that talk like real ones.

`Plan` decides what each device sends and when, without any I/O (so tests drive it with their own
clock): every device ticks at its heartbeat period, scaled so that all devices together send about
`rate` signals a second (never slower than the heartbeat period, or the devices would go offline). A
tick is a heartbeat, or for a device with thresholds one reading per threshold code — values mostly
inside the range, now and then outside it for a while (so some excursions outlast the rule's
`for_seconds` and raise an alarm, others do not). Now and then a device reports a fault and restores it
a few minutes later; about every `fire_every` seconds a random smoke detector raises a fire alarm and
restores it after one to two minutes. When the run stops, open faults and fires are restored.

Senders deliver the signals: `HttpSender` (HTTP push, `Authorization: Bearer`), `MqttSender` (one JSON
signal per message to `minan/v1/devices/<serial>/signals` at QoS 1). GB/T 26875.3 devices are simulated
by `gb_devices.run_gb_devices` in a thread of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from minan.firewatch.ingest.mqtt import parse_url

log = logging.getLogger("minan.simulate")

FAULT_EVERY = 600.0  # seconds between simulated faults, all devices together (about)
FAULT_RESTORE = (60.0, 300.0)
FIRE_RESTORE = (60.0, 120.0)
EXCURSION_EVERY = 300.0  # seconds between readings going out of range (devices with thresholds)
EXCURSION_LASTS = (20.0, 180.0)
HEARTBEAT_MARGIN = 0.9  # tick a little faster than the heartbeat period, never slower
FAULT_CODES = ["detector_dirty", "communication", "low_battery", "power"]
UNITS = {"pressure": "MPa", "level": "m", "temperature": "℃", "current": "mA", "residual_current": "mA", "lel": "%LEL",
         "gas": "%LEL", "voltage": "V", "humidity": "%"}  # fmt: skip


@dataclass
class SimDevice:
    serial: str
    type: str
    protocol: str  # how this run sends it: http, mqtt, gb26875
    heartbeat_seconds: int = 300
    thresholds: dict[str, Any] = field(default_factory=dict)
    gb_address: int | None = None
    gb_component: str = ""
    period: float = 0.0  # seconds between ticks in this run
    next_tick: float = 0.0
    excursions: dict[str, float] = field(default_factory=dict)  # code → until
    fault_until: float | None = None
    fire_until: float | None = None

    @property
    def per_tick(self) -> int:
        return max(1, len(self.thresholds))


def signal(kind: str, code: str = "", value: Any = "", unit: str = "") -> dict[str, Any]:
    """One signal in the documented JSON form (docs/firewatch.md)."""
    return {"type": kind, "code": code, "value": value, "unit": unit,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "message_id": uuid.uuid4().hex}  # fmt: skip


def _normal_value(rule: dict[str, Any], rng: random.Random) -> float:
    low, high = rule.get("min"), rule.get("max")
    if low is not None and high is not None:
        span = float(high) - float(low)
        return rng.uniform(float(low) + 0.15 * span, float(high) - 0.15 * span)
    if low is not None:
        return float(low) + abs(float(low) or 1.0) * rng.uniform(0.3, 1.0)
    if high is not None:
        return float(high) - abs(float(high) or 1.0) * rng.uniform(0.2, 0.6)
    return rng.uniform(0, 100)


def _outside_value(rule: dict[str, Any], rng: random.Random) -> float:
    low, high = rule.get("min"), rule.get("max")
    sides = [s for s, limit in (("low", low), ("high", high)) if limit is not None]
    if not sides:
        return _normal_value(rule, rng)
    if rng.choice(sides) == "low":
        return float(low) - abs(float(low) or 1.0) * rng.uniform(0.2, 0.5)  # type: ignore[arg-type]
    return float(high) + abs(float(high) or 1.0) * rng.uniform(0.1, 0.4)  # type: ignore[arg-type]


class Plan:
    """What the devices send and when (see the module docstring). Times are the caller's clock, in s."""

    def __init__(
        self,
        devices: list[SimDevice],
        *,
        rate: float,
        fire_every: float,
        rng: random.Random,
        now: float,
        fire_now: bool = False,
    ) -> None:
        self.devices = devices
        self.rng = rng
        self.fire_every = fire_every
        natural = sum(d.per_tick / (d.heartbeat_seconds * HEARTBEAT_MARGIN) for d in devices)
        # > 1: the devices may tick faster than their heartbeat; < 1 would let them go offline.
        self.speedup = max(1.0, rate / natural) if natural else 1.0
        self.rate = natural * self.speedup
        for d in devices:
            d.period = d.heartbeat_seconds * HEARTBEAT_MARGIN / self.speedup
            d.next_tick = now + rng.uniform(0, d.period)  # the first round at the rate too
        measuring = [d for d in devices if d.thresholds]
        self.next_fault = now + self._every(FAULT_EVERY) if devices else float("inf")
        self.next_excursion = now + self._every(EXCURSION_EVERY) if measuring else float("inf")
        self.next_fire = float("inf")
        if self.smoke_detectors() and (fire_now or fire_every > 0):
            self.next_fire = now if fire_now else now + self._every(fire_every)

    def _every(self, seconds: float) -> float:
        return seconds * self.rng.uniform(0.5, 1.5)

    def smoke_detectors(self) -> list[SimDevice]:
        return [d for d in self.devices if d.type == "smoke"]

    def next_wakeup(self) -> float:
        pending = [d.next_tick for d in self.devices]
        pending += [d.fire_until for d in self.devices if d.fire_until is not None]
        pending += [d.fault_until for d in self.devices if d.fault_until is not None]
        return min([*pending, self.next_fault, self.next_excursion, self.next_fire])

    def force_fire(self, device: SimDevice, now: float) -> list[dict[str, Any]]:
        device.fire_until = now + self.rng.uniform(*FIRE_RESTORE)
        return [signal("alarm", "fire")]

    def due(self, now: float) -> list[tuple[SimDevice, list[dict[str, Any]]]]:
        """The signals due by `now`, grouped by device (one batch per device)."""
        batches: dict[str, tuple[SimDevice, list[dict[str, Any]]]] = {}

        def add(device: SimDevice, items: list[dict[str, Any]]) -> None:
            batches.setdefault(device.serial, (device, []))[1].extend(items)

        for d in self.devices:
            if d.fire_until is not None and d.fire_until <= now:
                d.fire_until = None
                add(d, [signal("restore", "fire")])
            if d.fault_until is not None and d.fault_until <= now:
                d.fault_until = None
                add(d, [signal("restore", "fault")])
            for code, until in list(d.excursions.items()):
                if until <= now:
                    del d.excursions[code]
        quiet = [d for d in self.devices if d.fire_until is None and d.fault_until is None]
        if now >= self.next_fault:
            self.next_fault = now + self._every(FAULT_EVERY)
            if quiet:
                device = self.rng.choice(quiet)
                device.fault_until = now + self.rng.uniform(*FAULT_RESTORE)
                add(device, [signal("fault", self.rng.choice(FAULT_CODES))])
        if now >= self.next_excursion:
            self.next_excursion = now + self._every(EXCURSION_EVERY)
            device = self.rng.choice([d for d in self.devices if d.thresholds])
            code = self.rng.choice(sorted(device.thresholds))
            device.excursions[code] = now + self.rng.uniform(*EXCURSION_LASTS)
        if now >= self.next_fire:
            self.next_fire = now + self._every(self.fire_every) if self.fire_every > 0 else float("inf")
            candidates = [d for d in self.smoke_detectors() if d.fire_until is None]
            if candidates:
                device = self.rng.choice(candidates)
                add(device, self.force_fire(device, now))
        for d in self.devices:
            if d.next_tick > now:
                continue
            # A late loop does not catch up with a burst: the next tick is one period from now.
            d.next_tick = max(d.next_tick + d.period, now)
            add(d, self.tick(d))
        return list(batches.values())

    def tick(self, device: SimDevice) -> list[dict[str, Any]]:
        if not device.thresholds:
            return [signal("heartbeat")]
        items = []
        for code, rule in sorted(device.thresholds.items()):
            rule = rule if isinstance(rule, dict) else {}
            value = (
                _outside_value(rule, self.rng) if code in device.excursions else _normal_value(rule, self.rng)
            )
            items.append(signal("reading", code, round(value, 3), UNITS.get(code, "")))
        return items

    def closing(self) -> list[tuple[SimDevice, list[dict[str, Any]]]]:
        """Restores for every fire and fault still open: what a clean stop sends."""
        batches = []
        for d in self.devices:
            items = []
            if d.fire_until is not None:
                items.append(signal("restore", "fire"))
            if d.fault_until is not None:
                items.append(signal("restore", "fault"))
            d.fire_until = d.fault_until = None
            if items:
                batches.append((d, items))
        return batches


@dataclass
class Stats:
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    last_error: str = ""


class Sender(Protocol):
    name: str
    stats: Stats

    def send(self, device: SimDevice, signals: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class HttpSender:
    """HTTP push: one request per device batch, `Authorization: Bearer <token>`."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        *,
        timeout: float = 10.0,
        refresh: Callable[[str], str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the web address must start with http:// or https://, not {base_url!r}")
        self.url = base_url.rstrip("/") + "/api/v1/ingest/signals/"
        self.tokens = tokens
        self.timeout = timeout
        # On a 401, the device's current token (another simulator may have issued a new one meanwhile).
        self.refresh = refresh
        self.stats = Stats()

    def send(self, device: SimDevice, signals: list[dict[str, Any]]) -> None:
        self.stats.sent += len(signals)
        body = json.dumps({"device": device.serial, "signals": signals}).encode()
        try:
            try:
                answer = self._post(device.serial, body)
            except urllib.error.HTTPError as exc:
                token = self.refresh(device.serial) if exc.code == 401 and self.refresh else ""
                if not token or token == self.tokens.get(device.serial):
                    raise
                self.tokens[device.serial] = token
                answer = self._post(device.serial, body)
            self.stats.confirmed += int(answer["accepted"]) + int(answer["duplicates"])
        except urllib.error.HTTPError as exc:
            self.stats.failed += len(signals)
            self.stats.last_error = f"HTTP {exc.code} for {device.serial}"
        except (OSError, ValueError, KeyError) as exc:
            self.stats.failed += len(signals)
            self.stats.last_error = str(exc)[:200]

    def _post(self, serial: str, body: bytes) -> Any:
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.tokens.get(serial, '')}",
        }
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310 (http(s) checked)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (our own URL)
            return json.loads(response.read())

    def close(self) -> None:
        pass


class MqttSender:
    """One JSON signal per message to `minan/v1/devices/<serial>/signals`, QoS 1; the broker's PUBACK
    counts as confirmed. paho queues messages while (re)connecting."""

    name = "mqtt"

    def __init__(self, url: str, *, client_id: str | None = None) -> None:
        broker = parse_url(url)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._mqtt = mqtt
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"minan-sim-{uuid.uuid4().hex[:8]}"
        )
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._published
        self.client.on_connect = self._connected
        self.client.connect_async(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            with self._lock:
                self.stats.last_error = f"MQTT connect: {reason}"

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            if getattr(reason, "is_failure", False):
                self.stats.failed += 1
            else:
                self.stats.confirmed += 1

    def send(self, device: SimDevice, signals: list[dict[str, Any]]) -> None:
        topic = f"minan/v1/devices/{device.serial}/signals"
        for item in signals:
            info = self.client.publish(topic, json.dumps(item), qos=1)
            with self._lock:
                self.stats.sent += 1
                if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):
                    self.stats.failed += 1
                    self.stats.last_error = self._mqtt.error_string(info.rc)

    def close(self, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                if self.stats.confirmed + self.stats.failed >= self.stats.sent:
                    break
            time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()


def run(
    plan: Plan,
    senders: dict[str, Sender],
    *,
    stop: threading.Event,
    duration: float | None = None,
    report: Callable[[], None] | None = None,
    report_every: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Send what the plan says until `stop` is set or `duration` has passed, then restore what is open."""
    started = clock()
    next_report = started + report_every
    end = started + duration if duration is not None else float("inf")
    while not stop.is_set():
        now = clock()
        if now >= end:
            break
        for device, items in plan.due(now):
            senders[device.protocol].send(device, items)
            if stop.is_set():
                break
        if report is not None and clock() >= next_report:
            report()
            next_report = clock() + report_every
        wait = min(plan.next_wakeup(), end, next_report) - clock()
        if wait > 0:
            stop.wait(min(wait, 1.0))
    for device, items in plan.closing():
        senders[device.protocol].send(device, items)
