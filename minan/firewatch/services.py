"""The one way signals enter MinAn (`record_signal`), and the offline sweep (issue 8 items 3 and 5).

Every adapter (MQTT, HTTP push, the GB/T 26875.3 server) turns what it receives into a `SignalIn` and
calls `record_signal`. Rules:
- liveness: any signal moves the device's `offline_after` to now + heartbeat period + grace. Writes are
  coalesced: a device already online is touched at most every `COALESCE_SECONDS`, so a flood of
  heartbeats does not flood the database. A device that comes back flips to online once (one
  `DeviceEvent`) and its offline alarm is cleared.
- history: every signal but heartbeats is stored (`Signal`), idempotent by `message_id`.
- maintenance: a device inside its maintenance window raises nothing; its signals are stored, marked.
- alarms: one open alarm per device and kind; a repeat updates it. Severity: fire critical; faults of
  fire systems and gas alarms major; the rest minor. A fault of a panel (or of a device behind it) while
  that panel has had a fire alarm within `FIRE_INHIBITS_FAULTS` is stored but raises nothing.
- thresholds: a reading outside its range raises an alarm only once it has been outside for the
  configured duration (flapping values do not); a reading back inside clears it.
- restore: clears (not closes) the device's open alarms of that kind; closing a fire alarm needs the
  GB 25201 classification.

Concurrency: the open-alarm uniqueness is a partial unique index; a race between two signals of the
same device is settled by retrying the update. The sweep locks due devices with SKIP LOCKED and re-reads
their state, so two sweeps flip a device once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Alarm, AlarmEvent, Device, DeviceEvent, Signal

COALESCE_SECONDS = 30
FIRE_SYSTEM = {
    Device.Type.SMOKE, Device.Type.HEAT, Device.Type.CALL_POINT, Device.Type.PANEL, Device.Type.TRANSMITTER,
    Device.Type.ELECTRICAL, Device.Type.WATER_PRESSURE, Device.Type.WATER_LEVEL,
}  # fmt: skip
SIGNAL_TYPES = {"heartbeat", "alarm", "fault", "restore", "reading", "event"}


@dataclass
class SignalIn:
    """A signal as the adapters deliver it (docs/firewatch.md describes the JSON form)."""

    type: str
    code: str = ""
    value: str = ""
    unit: str = ""
    at: dt.datetime | None = None
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    stored: bool = False
    duplicate: bool = False
    alarm: Alarm | None = None
    raised: bool = False  # a new alarm (not a repeat)
    cleared: int = 0
    came_online: bool = False


def fire_inhibits_faults() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "FIRE_INHIBITS_FAULTS_SECONDS", 600)))


def severity_of(device: Device, kind: str) -> str:
    if kind == "fire":
        return Alarm.Severity.CRITICAL
    if kind == "gas" or device.type in {Device.Type.GAS, Device.Type.GAS_VALVE}:
        return Alarm.Severity.MAJOR
    if kind in {"fault", "offline"} and device.type in FIRE_SYSTEM:
        return Alarm.Severity.MAJOR
    return Alarm.Severity.MINOR


def in_maintenance(device: Device, at: dt.datetime) -> bool:
    return bool(
        device.maintenance_from
        and device.maintenance_until
        and device.maintenance_from <= at <= device.maintenance_until
    )


def _deadline(device: Device, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=device.heartbeat_seconds + device.grace_seconds)


def _touch(device: Device, now: dt.datetime) -> bool:
    """Move the device's liveness; True when it came back from offline (flipped once, by this call)."""
    deadline = _deadline(device, now)
    stale = now - dt.timedelta(seconds=COALESCE_SECONDS)
    Device.objects.filter(pk=device.pk).filter(
        Q(last_signal_at__isnull=True) | Q(last_signal_at__lt=stale) | ~Q(status=Device.Status.ONLINE)
    ).update(last_signal_at=now, offline_after=deadline)
    flipped = (
        Device.objects.filter(pk=device.pk)
        .exclude(status=Device.Status.ONLINE)
        .update(status=Device.Status.ONLINE, last_signal_at=now, offline_after=deadline)
    )
    if not flipped or device.status != Device.Status.OFFLINE:
        device.status = Device.Status.ONLINE
        return False
    device.status = Device.Status.ONLINE
    DeviceEvent.objects.create(device=device, status=Device.Status.ONLINE, at=now)
    _clear(device, ["offline"], now)
    return True


def _clear(device: Device, kinds: list[str] | None, now: dt.datetime) -> int:
    open_alarms = Alarm.objects.filter(device=device, closed_at__isnull=True, cleared_at__isnull=True)
    if kinds is not None:
        open_alarms = open_alarms.filter(kind__in=kinds)
    ids = list(open_alarms.values_list("pk", flat=True))
    cleared = Alarm.objects.filter(pk__in=ids, cleared_at__isnull=True).update(cleared_at=now)
    AlarmEvent.objects.bulk_create(AlarmEvent(alarm_id=pk, action="cleared") for pk in ids)
    return cleared


def raise_alarm(
    device: Device, kind: str, at: dt.datetime, detail: dict[str, Any] | None = None
) -> tuple[Alarm, bool]:
    """Open an alarm of this kind on the device, or count a repeat of the open one. (alarm, new?)"""
    for _attempt in range(3):
        existing = Alarm.objects.filter(device=device, kind=kind, closed_at__isnull=True).first()
        if existing is not None:
            Alarm.objects.filter(pk=existing.pk).update(
                count=F("count") + 1, last_at=at, cleared_at=None, detail=detail or existing.detail
            )
            AlarmEvent.objects.create(alarm=existing, action="repeated", data=detail or {})
            existing.refresh_from_db()
            return existing, False
        try:
            with transaction.atomic():
                alarm = Alarm.objects.create(
                    device=device, institution_id=device.institution_id, region_path=device.region_path, kind=kind,
                    severity=severity_of(device, kind), first_at=at, last_at=at, detail=detail or {},
                )  # fmt: skip
        except IntegrityError:  # another signal of this device opened it meanwhile: count a repeat
            continue
        AlarmEvent.objects.create(alarm=alarm, action="raised", data=detail or {})
        return alarm, True
    raise RuntimeError("could not raise or repeat the alarm")  # pragma: no cover (three races in a row)


def _inhibited(device: Device, at: dt.datetime) -> bool:
    """A fault while the device's panel (or the device itself, if a panel) had a fire alarm recently."""
    panel_id = device.panel_id or (device.pk if device.type == Device.Type.PANEL else None)
    if panel_id is None:
        return False
    return Alarm.objects.filter(
        Q(device_id=panel_id) | Q(device__panel_id=panel_id),
        kind="fire",
        last_at__gte=at - fire_inhibits_faults(),
    ).exists()


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _outside(rule: dict[str, Any], value: Decimal) -> bool:
    low, high = rule.get("min"), rule.get("max")
    return (low is not None and value < Decimal(str(low))) or (
        high is not None and value > Decimal(str(high))
    )


@transaction.atomic
def record_signal(device: Device, signal: SignalIn, *, now: dt.datetime | None = None) -> Outcome:
    """Record one signal of a device (see the module docstring)."""
    now = now or timezone.now()
    at = signal.at or now
    outcome = Outcome()
    if signal.type not in SIGNAL_TYPES:
        raise ValueError(f"unknown signal type {signal.type!r}")
    outcome.came_online = _touch(device, now)
    if signal.type == "heartbeat":
        return outcome
    maintenance = in_maintenance(device, at)
    number = _number(signal.value) if signal.type == "reading" else None
    rule = device.thresholds.get(signal.code) if signal.type == "reading" else None
    breach = bool(rule and number is not None and _outside(rule, number))
    try:
        with transaction.atomic():
            Signal.objects.create(
                device=device, type=signal.type, code=signal.code[:40], value=str(signal.value)[:100],
                unit=signal.unit[:20], at=at, message_id=signal.message_id or None, in_maintenance=maintenance,
                out_of_range=breach,
            )  # fmt: skip
    except IntegrityError:
        outcome.duplicate = True
        return outcome
    outcome.stored = True
    if maintenance:
        return outcome
    if signal.type == "alarm":
        outcome.alarm, outcome.raised = raise_alarm(device, signal.code or "alarm", at, signal.extra or None)
    elif signal.type == "fault":
        if not _inhibited(device, at):
            outcome.alarm, outcome.raised = raise_alarm(
                device, "fault", at, {"code": signal.code, **signal.extra}
            )
    elif signal.type == "restore":
        outcome.cleared = _clear(device, None if signal.code in {"", "reset"} else [signal.code], now)
    elif signal.type == "reading" and rule is not None and number is not None:
        kind = f"threshold:{signal.code}"
        if breach:
            since = _breach_since(device, signal.code, at)
            if (at - since).total_seconds() >= float(rule.get("for_seconds", 0)):
                outcome.alarm, outcome.raised = raise_alarm(
                    device, kind, at, {"value": str(number), "unit": signal.unit, "since": since.isoformat()}
                )
        else:
            outcome.cleared = _clear(device, [kind], now)
    return outcome


def _breach_since(device: Device, code: str, at: dt.datetime) -> dt.datetime:
    """When the current run of out-of-range readings of this code began."""
    readings = Signal.objects.filter(device=device, type=Signal.Type.READING, code=code, at__lte=at)
    last_ok = readings.filter(out_of_range=False).order_by("-at").values_list("at", flat=True).first()
    run = readings.filter(out_of_range=True)
    if last_ok is not None:
        run = run.filter(at__gt=last_ok)
    return run.order_by("at").values_list("at", flat=True).first() or at


SWEEP_CHUNK = 500


def sweep_offline(now: dt.datetime | None = None) -> int:
    """Mark devices whose `offline_after` has passed offline: one `DeviceEvent` per flip and an offline
    alarm (maintenance windows excepted). Safe with several workers. Returns devices flipped."""
    now = now or timezone.now()
    due = list(
        Device.objects.filter(active=True, offline_after__lt=now)
        .exclude(status=Device.Status.OFFLINE)
        .values_list("pk", flat=True)
    )
    flipped = 0
    for start in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            locked = list(
                Device.objects.select_for_update(skip_locked=True)
                .filter(pk__in=due[start : start + SWEEP_CHUNK], offline_after__lt=now)
                .exclude(status=Device.Status.OFFLINE)
            )
            if not locked:
                continue
            Device.objects.filter(pk__in=[d.pk for d in locked]).update(status=Device.Status.OFFLINE)
            DeviceEvent.objects.bulk_create(
                DeviceEvent(device=d, status=Device.Status.OFFLINE, at=now) for d in locked
            )
            for device in locked:
                if not in_maintenance(device, now):
                    raise_alarm(device, "offline", now, {"last_signal_at": device.last_signal_at.isoformat()
                                                         if device.last_signal_at else None})  # fmt: skip
            flipped += len(locked)
    return flipped
