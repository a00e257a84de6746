"""The one way signals enter MinAn (`record_signal`), and the offline sweep.

Every adapter (MQTT, HTTP push, the GB/T 26875.3 server) turns what it receives into a `SignalIn` and
calls `record_signal`. Rules:
- liveness: any signal moves the device's `offline_after` to now + heartbeat period + grace. Writes are
  coalesced: a device already online is touched at most every `COALESCE_SECONDS`, so a flood of
  heartbeats does not flood the database. A device that comes back flips to online once (one
  `DeviceEvent`) and its offline alarm is cleared.
- history: every signal but heartbeats is stored (`Signal`), idempotent by `message_id`; a signal
  without one but with the device's time is identified by device, type, code and that time (a
  redelivered fire alarm without an id is not counted twice, `identity`).
- maintenance: a device inside its maintenance window raises nothing; its signals are stored, marked.
- alarms: one active (not cleared) alarm per device and kind; a repeat updates it, a trigger after a
  clear opens another. Severity: fire critical; faults of fire systems and gas alarms major; the rest
  minor. A fault of a panel (or of a device behind it) while that panel has had a fire alarm within
  `FIRE_INHIBITS_FAULTS` is stored but raises nothing.
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
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from minan.firewatch.alarms import services as alarm_services
from minan.firewatch.alarms.kinds import FIRE_SYSTEM
from minan.firewatch.models import Alarm, AlarmEvent, Device, DeviceEvent, Signal

COALESCE_SECONDS = 30
SIGNAL_TYPES = {"heartbeat", "alarm", "fault", "restore", "reading", "event"}
# A device clock further off than this is not believed: the signal gets the server's time, and the
# device's goes into the alarm detail (deadlines run on the server's clock).
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


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


def coalesce_seconds(device: Device) -> int:
    # Never so long that the sweep could find a coalesced device overdue.
    return min(COALESCE_SECONDS, (device.heartbeat_seconds + device.grace_seconds) // 2)


def _fresh(device: Device, now: dt.datetime) -> bool:
    """Known online and heard from within `coalesce_seconds`: nothing to write."""
    return (
        device.status == Device.Status.ONLINE
        and device.last_signal_at is not None
        and device.last_signal_at > now - dt.timedelta(seconds=coalesce_seconds(device))
    )


def _touch_many(devices: list[Device], now: dt.datetime) -> set[int]:
    """Move the liveness of these devices; returns the ids of those that came back from offline.

    Coalesced: a device this object knows to be online and heard from within `coalesce_seconds` is not
    written at all. The ingest process keeps its device objects between batches, so most heartbeats
    cost no query; an object that is out of date costs one extra UPDATE, never a missed flip. The rest
    is one UPDATE per distinct period (devices not offline), then one flip per device that was offline.
    """
    stale = [d for d in devices if not _fresh(d, now)]
    if not stale:
        return set()
    groups: dict[int, list[Device]] = {}
    for device in stale:
        groups.setdefault(device.heartbeat_seconds + device.grace_seconds, []).append(device)
    came_back: set[int] = set()
    for seconds, group in groups.items():
        deadline = now + dt.timedelta(seconds=seconds)
        ids = [d.pk for d in group]
        updated = (
            Device.objects.filter(pk__in=ids)
            .exclude(status=Device.Status.OFFLINE)
            .update(status=Device.Status.ONLINE, last_signal_at=now, offline_after=deadline)
        )
        offline = set()
        if updated < len(ids):
            offline = set(
                Device.objects.filter(pk__in=ids, status=Device.Status.OFFLINE).values_list("pk", flat=True)
            )
        for device in group:
            device.last_signal_at, device.offline_after = now, deadline
            if device.pk in offline and _flip_online(device, now, deadline):
                came_back.add(device.pk)
            device.status = Device.Status.ONLINE
    return came_back


def _flip_online(device: Device, now: dt.datetime, deadline: dt.datetime) -> bool:
    """An offline device is heard from: online again (one event, by whoever flips it), offline alarm cleared."""
    flipped = Device.objects.filter(pk=device.pk, status=Device.Status.OFFLINE).update(
        status=Device.Status.ONLINE, last_signal_at=now, offline_after=deadline
    )
    if not flipped:
        return False
    DeviceEvent.objects.create(device=device, status=Device.Status.ONLINE, at=now)
    _clear(device, ["offline"], now)
    return True


def _clear(device: Device, kinds: list[str] | None, now: dt.datetime, *, components: bool = False) -> int:
    """Clear open alarms of the device (of these kinds); `components`: also of the devices behind it
    (a panel's reset clears its detectors' alarms)."""
    mine = Q(device=device) | Q(device__panel=device) if components else Q(device=device)
    open_alarms = Alarm.objects.filter(mine, closed_at__isnull=True, cleared_at__isnull=True)
    if kinds is not None:
        open_alarms = open_alarms.filter(kind__in=kinds)
    ids = list(open_alarms.values_list("pk", flat=True))
    cleared = Alarm.objects.filter(pk__in=ids, cleared_at__isnull=True).update(cleared_at=now)
    AlarmEvent.objects.bulk_create(AlarmEvent(alarm_id=pk, action="cleared") for pk in ids)
    return cleared


def raise_alarm(
    device: Device, kind: str, at: dt.datetime, detail: dict[str, Any] | None = None
) -> tuple[Alarm, bool]:
    """Open an alarm of this kind on the device, or count a repeat of the active one (a cleared alarm
    is not reopened: a new trigger opens a new alarm). (alarm, new?)"""
    return raise_alarms([(device, kind, at, detail)])[0]


AlarmRequest = tuple[Device, str, dt.datetime, dict[str, Any] | None]  # device, kind, at, detail


def raise_alarms(requests: Sequence[AlarmRequest]) -> list[tuple[Alarm, bool]]:
    """`raise_alarm` for several triggers at once, in order, with the same result as one after the other,
    in a constant number of queries (before, a burst of fire alarms cost 5 queries each): one
    look-up of the active alarms of these devices and kinds, one insert of the new ones (in a
    savepoint), one update and one re-read of those repeated, one insert of their events. A trigger
    of a device and kind raised earlier in the same call is a repeat of that alarm. If another
    transaction opened one of the alarms meanwhile (the insert breaks the one-active-alarm index), all
    is looked up again, as `raise_alarm` always did."""
    if not requests:
        return []
    pairs = {(device.pk, kind) for device, kind, _at, _detail in requests}
    for _attempt in range(3):
        active = {
            (alarm.device_id, alarm.kind): alarm
            for alarm in Alarm.objects.filter(
                device_id__in={pk for pk, _kind in pairs},
                kind__in={kind for _pk, kind in pairs},
                closed_at__isnull=True,
                cleared_at__isnull=True,
            ).order_by()  # (at most one each: the model's ordering would only cost time)
            if (alarm.device_id, alarm.kind) in pairs
        }
        new: dict[tuple[int, str], Alarm] = {}
        repeated: dict[tuple[int, str], list[Any]] = {}  # of active alarms: [count, last at, detail]
        plan: list[tuple[tuple[int, str], str, dict[str, Any]]] = []  # per request: alarm, action, data
        for device, kind, at, detail in requests:
            pair = (device.pk, kind)
            if pair in active:
                counted = repeated.setdefault(pair, [0, at, active[pair].detail])
                counted[0] += 1
                counted[1], counted[2] = at, detail or counted[2]
                plan.append((pair, "repeated", detail or {}))
            elif pair in new:
                alarm = new[pair]
                alarm.count += 1
                alarm.last_at, alarm.detail = at, detail or alarm.detail
                plan.append((pair, "repeated", detail or {}))
            else:
                new[pair] = Alarm(
                    device=device, institution_id=device.institution_id, region_path=device.region_path, kind=kind,
                    severity=severity_of(device, kind), first_at=at, last_at=at, detail=detail or {},
                )  # fmt: skip
                plan.append((pair, "raised", detail or {}))
        if new:
            try:
                with transaction.atomic():
                    Alarm.objects.bulk_create(new.values())
            except IntegrityError:  # another signal of one of these devices opened it meanwhile: look again
                continue
        if repeated:
            changed = []
            for pair, (count, last_at, detail) in repeated.items():
                alarm = active[pair]
                alarm.count, alarm.last_at, alarm.detail = F("count") + count, last_at, detail
                changed.append(alarm)
            Alarm.objects.bulk_update(changed, ["count", "last_at", "detail"])
            fresh = Alarm.objects.in_bulk([alarm.pk for alarm in changed])
            active = {pair: fresh[alarm.pk] for pair, alarm in active.items() if pair in repeated}
        alarms = {**active, **new}
        AlarmEvent.objects.bulk_create(
            AlarmEvent(alarm=alarms[pair], action=action, data=data) for pair, action, data in plan
        )
        for device, kind, _at, _detail in requests:
            raised = new.get((device.pk, kind))
            if raised is not None and Device.institution.is_cached(device):  # the ingest reads them so
                raised.institution = device.institution
        return [(alarms[pair], action == "raised") for pair, action, _data in plan]
    raise RuntimeError("could not raise or repeat the alarms")  # pragma: no cover (three races in a row)


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


def record_signal(device: Device, signal: SignalIn, *, now: dt.datetime | None = None) -> Outcome:
    """Record one signal of a device (see the module docstring)."""
    return record_signals([(device, signal)], now=now)[0]


def _plain(device: Device, signal: SignalIn) -> bool:
    """A signal that only needs storing: a reading without a threshold rule, or an event."""
    return signal.type == "event" or (signal.type == "reading" and signal.code not in device.thresholds)


def can_alarm(device: Device, signal: SignalIn) -> bool:
    """A signal whose rules may raise or clear an alarm: alarm, fault, restore, reading with a threshold."""
    return signal.type != "heartbeat" and not _plain(device, signal)


def identity(device: Device, signal: SignalIn) -> str | None:
    """What makes a stored signal unique (the `message_id` column): the device's message id, else, when
    the device gave its time, "~<device id>:<type>:<code>:<device time, UTC>" — a message delivered again
    (a broker restored after a crash, a device resending) carries the same time, a new trigger does
    not. Neither: None, and every delivery is stored (nothing tells a repeat from a redelivery). Message
    ids starting with "~" are reserved for this."""
    if signal.message_id:
        return signal.message_id
    if signal.at is None:
        return None
    key = f"~{device.pk}:{signal.type}:{signal.code}:{signal.at.astimezone(dt.UTC):%Y%m%dT%H%M%S.%fZ}"
    return key if len(key) <= 100 else "~" + hashlib.sha256(key.encode()).hexdigest()


@dataclass
class _Row:
    """A signal of the batch to store, and what its rules need afterwards."""

    outcome: Outcome
    device: Device
    signal: SignalIn
    key: str | None  # `identity`, before a skewed device time is replaced by the server's
    at: dt.datetime
    in_maintenance: bool
    breach: bool = False
    number: Decimal | None = None


@transaction.atomic
def record_signals(items: list[tuple[Device, SignalIn]], *, now: dt.datetime | None = None) -> list[Outcome]:
    """Record a batch of signals in one transaction (the ingest adapters' unit of work).

    Liveness is moved once per device; every signal but heartbeats is inserted in one statement (a
    message id — or without one, device, type, code and device time: `identity` — already stored, or
    repeated in the batch, is a duplicate and nothing more happens with it); then the rules of the stored alarms, faults, restores and threshold readings run in order.
    Newly raised alarms start their escalation chain in this transaction, so their first messages are
    enqueued exactly when the alarms are committed."""
    now = now or timezone.now()
    for _device, signal in items:
        if signal.type not in SIGNAL_TYPES:
            raise ValueError(f"unknown signal type {signal.type!r}")
    keys = [identity(device, signal) for device, signal in items]  # with the device's own time
    for _device, signal in items:
        if signal.at is not None and abs(signal.at - now) > MAX_CLOCK_SKEW:
            signal.extra = {**signal.extra, "device_time": signal.at.isoformat()}
            signal.at = None
    distinct = list({device.pk: device for device, _signal in items}.values())
    back = _touch_many(distinct, now)
    came_online = {device.pk: device.pk in back for device in distinct}
    outcomes: list[Outcome] = []
    rows: list[_Row] = []
    in_batch: set[tuple[int, str]] = set()
    for (device, signal), key in zip(items, keys, strict=True):
        outcome = Outcome(came_online=came_online.pop(device.pk, False))
        outcomes.append(outcome)
        if signal.type == "heartbeat":
            continue
        if key:
            if (device.pk, key) in in_batch:
                outcome.duplicate = True
                continue
            in_batch.add((device.pk, key))
        at = signal.at or now
        row = _Row(outcome, device, signal, key, at, in_maintenance(device, at))
        if signal.type == "reading" and not _plain(device, signal):
            row.number = _number(signal.value)
            rule = device.thresholds[signal.code]
            row.breach = bool(rule and row.number is not None and _outside(rule, row.number))
        rows.append(row)
    if rows:
        _insert(rows, now)
    # The rules in order; consecutive alarm signals (a burst of fire alarms) are raised together
    # (`raise_alarms`, a constant number of queries): an alarm signal reads and writes only the active
    # alarm of its device and kind, and no other rule runs between them.
    run: list[_Row] = []
    for row in rows:
        if row.outcome.stored and not row.in_maintenance and can_alarm(row.device, row.signal):
            if row.signal.type == "alarm":
                run.append(row)
                continue
            _raise_run(run)
            _apply_rules(row, now)
    _raise_run(run)
    alarm_services.start(
        [r.outcome.alarm for r in rows if r.outcome.raised and r.outcome.alarm is not None], now
    )
    return outcomes


def _raise_run(run: list[_Row]) -> None:
    """Raise (or repeat) the alarms of consecutive alarm signals, and empty the list."""
    requests = [(r.device, r.signal.code or "alarm", r.at, r.signal.extra or None) for r in run]
    for row, (alarm, new) in zip(run, raise_alarms(requests), strict=True):
        row.outcome.alarm, row.outcome.raised = alarm, new
    run.clear()


_COLUMNS = ("device_id", "type", "code", "value", "unit", "at", "received_at", "message_id", "in_maintenance",
            "out_of_range")  # fmt: skip


def _insert(rows: list[_Row], now: dt.datetime) -> None:
    """Store the signals in one statement. An identity (message id) the device already stored is skipped by
    the unique (device, message id) index (ON CONFLICT DO NOTHING) and reported as a duplicate. Plain SQL rather than bulk_create: it also
    tells which rows were inserted, and skips building model objects (readings are the bulk of ingest)."""
    ops = connection.ops
    received = ops.adapt_datetimefield_value(now)
    values = [
        (r.device.pk, r.signal.type, r.signal.code[:40], str(r.signal.value)[:100], r.signal.unit[:20],
         ops.adapt_datetimefield_value(r.at), received, r.key, r.in_maintenance, r.breach)
        for r in rows
    ]  # fmt: skip
    table = connection.ops.quote_name(Signal._meta.db_table)
    columns = ", ".join(_COLUMNS)
    if connection.vendor == "postgresql":
        # One parameter per column (arrays), bound on the server in binary (%b): Django's cursor binds on
        # the client, which spells every value out in the SQL text for the server to parse again, and
        # psycopg escapes text arrays element by element in Python.
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest(%b::bigint[], %b::varchar[], "  # noqa: S608
                "%b::varchar[], %b::varchar[], %b::varchar[], %b::timestamptz[], %b::timestamptz[], %b::varchar[], "
                "%b::boolean[], %b::boolean[]) ON CONFLICT DO NOTHING RETURNING device_id, message_id",
                [list(column) for column in zip(*values, strict=True)],
            )
            inserted = [(device_id, message_id) for (device_id, message_id) in cursor.fetchall()]
    else:
        row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(values))} "  # noqa: S608
                "ON CONFLICT DO NOTHING RETURNING device_id, message_id",
                [value for v in values for value in v],
            )
            inserted = [(device_id, message_id) for (device_id, message_id) in cursor.fetchall()]
    stored = set(inserted)
    for r in rows:  # rows without an identity cannot conflict: all of them are stored
        r.outcome.stored = (r.device.pk, r.key) in stored if r.key else True
        r.outcome.duplicate = not r.outcome.stored


def _apply_rules(row: _Row, now: dt.datetime) -> None:
    """What a stored fault, restore or threshold reading does (not in a maintenance window); alarm signals
    are raised in runs by `_raise_run`."""
    device, signal, outcome, at = row.device, row.signal, row.outcome, row.at
    if signal.type == "fault":
        if not _inhibited(device, at):
            outcome.alarm, outcome.raised = raise_alarm(
                device, "fault", at, {"code": signal.code, **signal.extra}
            )
    elif signal.type == "restore":
        reset = signal.code in {"", "reset"}
        outcome.cleared = _clear(device, None if reset else [signal.code], now,
                                 components=reset and device.type == Device.Type.PANEL)  # fmt: skip
    elif signal.type == "reading" and row.number is not None:
        kind = f"threshold:{signal.code}"
        rule = device.thresholds[signal.code]
        if row.breach:
            since = _breach_since(device, signal.code, at)
            if (at - since).total_seconds() >= float(rule.get("for_seconds", 0)):
                outcome.alarm, outcome.raised = raise_alarm(
                    device,
                    kind,
                    at,
                    {"value": str(row.number), "unit": signal.unit, "since": since.isoformat()},
                )
        else:
            outcome.cleared = _clear(device, [kind], now)


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
    alarm (maintenance windows excepted) whose escalation starts. Safe with several workers. Returns
    devices flipped."""
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
            requests = [
                (device, "offline", now,
                 {"last_signal_at": device.last_signal_at.isoformat() if device.last_signal_at else None})
                for device in locked
                if not in_maintenance(device, now)
            ]  # fmt: skip
            alarm_services.start([alarm for alarm, new in raise_alarms(requests) if new], now)
            flipped += len(locked)
    return flipped
