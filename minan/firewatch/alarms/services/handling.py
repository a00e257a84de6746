"""People act on an alarm: `acknowledge` stops the chain; `clear` marks by hand that the condition is
over (refused while the device still reports it); `close` needs the GB 25201 classification with its
detail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.firewatch.models import Alarm, AlarmEvent, Device, Signal

from .escalation import ack_expiry


def _visible(actor: Any, alarm: Alarm, action: str) -> Alarm:
    """The alarm locked for a change, if the actor may `action` it (404 when out of scope)."""
    perm = f"firewatch.{action}_alarm"
    if not actor.has_perm(perm):
        raise NotPermitted(_("You do not have permission to do this."))
    found = (
        Alarm.objects.for_user(actor)  # the action's own permission is checked above
        .select_for_update(of=("self",))
        .filter(pk=alarm.pk)
        .select_related("device", "institution")
        .first()
    )
    if found is None:
        raise OutOfScope(_("Alarm not found."))
    if found.closed_at is not None:
        raise DomainError(_("This alarm is already closed."), code="closed")
    return found


@transaction.atomic
def acknowledge(actor: Any, alarm: Alarm, *, request: Any = None, now: dt.datetime | None = None) -> Alarm:
    """Someone has seen the alarm and is acting: the escalation stops (with acknowledgement expiry on,
    a reminder is due if it is not cleared by then)."""
    now = now or timezone.now()
    alarm = _visible(actor, alarm, "acknowledge")
    if alarm.acknowledged_at is not None:
        raise DomainError(_("This alarm is already acknowledged."), code="acknowledged")
    expiry = ack_expiry(alarm)
    reminder = now + expiry if expiry is not None and alarm.cleared_at is None else None
    alarm.acknowledged_at, alarm.acknowledged_by, alarm.next_escalation_at = now, actor, reminder
    alarm.save(update_fields=["acknowledged_at", "acknowledged_by", "next_escalation_at"])
    AlarmEvent.objects.create(alarm=alarm, action="acknowledged", actor=actor)
    record("alarm.acknowledge", user=actor, request=request, obj=alarm,
           detail=f"#{alarm.pk} {alarm.kind} {alarm.device.serial}")  # fmt: skip
    return alarm


def _local(at: dt.datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S")


def still_reported(alarm: Alarm, now: dt.datetime) -> str | None:
    """Why the device still reports the alarm's condition (a manual clear is refused then), or None.

    offline: the device is offline; threshold:<code>: its latest reading of the code is outside the
    range; any other kind: the device reported it within its heartbeat period + grace (a detector still
    in alarm repeats it; one that stopped is over, or gone, which the offline alarm tells)."""
    device = alarm.device
    if alarm.kind == "offline":
        if device.status == Device.Status.OFFLINE:
            return _("The device is still offline; the alarm clears itself when the device is heard from.")
        return None
    if alarm.kind.startswith("threshold:"):
        latest = (
            Signal.objects.filter(device=device, type=Signal.Type.READING, code=alarm.kind.split(":", 1)[1])
            .order_by("-at", "-id")
            .first()
        )
        if latest is not None and latest.out_of_range:
            return _("The latest reading (%(value)s %(unit)s at %(at)s) is still outside its range.") % {
                "value": latest.value, "unit": latest.unit, "at": _local(latest.at),
            }  # fmt: skip
        return None
    quiet = dt.timedelta(seconds=device.heartbeat_seconds + device.grace_seconds)
    if alarm.last_at > now - quiet:
        return _(
            "The device reported this at %(at)s and may still be reporting it. It can be cleared from "
            "%(from)s, or clears itself when the device reports it restored."
        ) % {"at": _local(alarm.last_at), "from": _local(alarm.last_at + quiet)}
    return None


@transaction.atomic
def clear(actor: Any, alarm: Alarm, *, request: Any = None, now: dt.datetime | None = None) -> Alarm:
    """Mark by hand that the alarm's condition is over (the device sent no restore). Refused while the
    device still reports it (`still_reported`). Clearing does not acknowledge: an unacknowledged alarm
    keeps escalating. A clear cannot be undone: a new trigger opens a new alarm."""
    now = now or timezone.now()
    alarm = _visible(actor, alarm, "clear")
    if alarm.cleared_at is not None:
        raise DomainError(_("This alarm is already cleared."), code="cleared")
    reason = still_reported(alarm, now)
    if reason:
        raise DomainError(reason, code="still_reported")
    alarm.cleared_at, alarm.cleared_by = now, actor
    alarm.save(update_fields=["cleared_at", "cleared_by"])
    AlarmEvent.objects.create(alarm=alarm, action="cleared", actor=actor)
    record("alarm.clear", user=actor, request=request, obj=alarm,
           detail=f"#{alarm.pk} {alarm.kind} {alarm.device.serial}")  # fmt: skip
    return alarm


def false_alarm_causes() -> dict[str, str]:
    return {code: str(label) for code, label in settings.FIRE_FALSE_ALARM_CAUSES}


def _text(detail: dict[str, Any], key: str, message: str, limit: int = 500) -> str:
    value = str(detail.get(key) or "").strip()
    if not value:
        raise DomainError(message, field=key)
    return value[:limit]


def _when(detail: dict[str, Any], key: str, message: str) -> str:
    raw = detail.get(key)
    value = raw if isinstance(raw, dt.datetime) else parse_datetime(str(raw or "").strip())
    if value is None:
        raise DomainError(message, field=key)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.isoformat()


def _yes_no(detail: dict[str, Any], key: str, message: str) -> bool:
    raw = detail.get(key)
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in {"true", "1", "yes", "on"}:
        return True
    if str(raw).lower() in {"false", "0", "no", "off"}:
        return False
    raise DomainError(message, field=key)


def clean_close_detail(classification: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The detail GB 25201 §5.3 requires for each close-out class, checked."""
    if classification == Alarm.Classification.REAL:
        # Checked in the order the form asks.
        clean: dict[str, Any] = {
            "confirmed_at": _when(detail, "confirmed_at", _("Enter when the fire was confirmed.")),
            "called_119": _yes_no(detail, "called_119", _("Say whether 119 was called.")),
        }
        if clean["called_119"]:
            clean["called_119_at"] = _when(detail, "called_119_at", _("Enter when 119 was called."))
        clean["plan_started"] = _yes_no(detail, "plan_started", _("Say whether the fire plan was started."))
        try:
            casualties = int(str(detail.get("casualties", "")).strip())
        except ValueError:
            casualties = -1
        if casualties < 0:
            raise DomainError(_("Enter the number of casualties (0 if none)."), field="casualties")
        clean["casualties"] = casualties
        clean["losses"] = _text(detail, "losses", _("Describe the losses (write 无 if none)."))
        return clean
    if classification == Alarm.Classification.FALSE:
        cause = str(detail.get("cause") or "")
        if cause not in false_alarm_causes():
            raise DomainError(_("Choose the cause of the false alarm."), field="cause")
        return {"cause": cause, "repair_log": _text(detail, "repair_log", _("Enter the repair-log entry."))}
    if classification == Alarm.Classification.TEST:
        return {
            "tested_by": _text(detail, "tested_by", _("Enter who tested."), 100),
            "maintenance_window": _text(
                detail, "maintenance_window", _("Enter the maintenance window of the test.")
            ),
        }
    if classification == Alarm.Classification.FAULT:
        return {
            "description": _text(detail, "description", _("Describe the fault.")),
            "maintenance_order": _text(detail, "maintenance_order", _("Enter the maintenance order."), 100),
        }
    raise DomainError(_("Choose how the alarm is classified."), field="classification")


@transaction.atomic
def close(
    actor: Any,
    alarm: Alarm,
    classification: str,
    detail: dict[str, Any],
    *,
    note: str = "",
    request: Any = None,
    now: dt.datetime | None = None,
) -> Alarm:
    """Close an alarm with its GB 25201 classification. Closing acknowledges (if nobody had) and clears
    it; a later trigger opens a new alarm."""
    now = now or timezone.now()
    alarm = _visible(actor, alarm, "close")
    clean = clean_close_detail(classification, detail)
    if note.strip():
        clean["note"] = note.strip()[:1000]
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at, alarm.acknowledged_by = now, actor
        AlarmEvent.objects.create(alarm=alarm, action="acknowledged", actor=actor)
    if alarm.cleared_at is None:
        alarm.cleared_at, alarm.cleared_by = now, actor
    alarm.closed_at, alarm.closed_by, alarm.classification, alarm.close_detail = (
        now,
        actor,
        classification,
        clean,
    )
    alarm.next_escalation_at = None
    alarm.save(update_fields=["acknowledged_at", "acknowledged_by", "cleared_at", "cleared_by", "closed_at",
                              "closed_by", "classification", "close_detail", "next_escalation_at"])  # fmt: skip
    AlarmEvent.objects.create(
        alarm=alarm, action="closed", actor=actor, data={"classification": classification}
    )
    record("alarm.close", user=actor, request=request, obj=alarm,
           detail=f"#{alarm.pk} {alarm.kind} {classification}")  # fmt: skip
    return alarm
