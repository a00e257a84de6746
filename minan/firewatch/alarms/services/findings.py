"""What MinAn itself finds becomes a hazard, reported by the non-login account `minan-monitor`.

- `fault_hazards(now)`: a fire-system fault (or offline) alarm not cleared within
  `MINAN_FIRE_FAULT_HAZARD_HOURS` (24) becomes a hazard, once.
- `unanswered_duty_checks(now)`: a 查岗 not answered within `MINAN_GB26875_DUTY_CHECK_ANSWER_MINUTES`
  (10) is marked so and becomes a finding (a hazard) against the institution, unless one from an earlier
  unanswered check is still open there.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.firewatch.models import Alarm, AlarmEvent, Signal
from minan.hazards import services as hazard_services
from minan.hazards.models import Category, Hazard, Source
from minan.regions import paths
from minan.regions.models import Region

from ..kinds import FIRE_SYSTEM, FIRE_SYSTEM_FAULTS, alarm_label


def monitor_user(region: Any) -> Any:
    """The account MinAn's own monitoring acts as (hazards it raises); it cannot log in."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username="minan-monitor",
        defaults={
            "display_name": "智慧消防监测",
            "region": region,
            "is_active": False,
            "must_change_password": False,
        },
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _monitor_for(region_path: str) -> Any:
    """The non-login account that reports what MinAn itself finds, for the top region of this path."""
    return monitor_user(Region.objects.filter(region_path=paths.ancestor(region_path, 1)).first())


def fault_hazards(now: dt.datetime | None = None) -> int:
    """Fire-system faults not cleared in time become hazards (once each). Returns hazards raised."""
    now = now or timezone.now()
    limit = now - dt.timedelta(hours=settings.FIRE_FAULT_HAZARD_HOURS)
    due = list(
        Alarm.objects.filter(
            kind__in=FIRE_SYSTEM_FAULTS, device__type__in=FIRE_SYSTEM, first_at__lte=limit,
            cleared_at__isnull=True, closed_at__isnull=True, hazard__isnull=True,
        ).values_list("pk", flat=True)
    )  # fmt: skip
    raised = 0
    for pk in due:
        with transaction.atomic():
            alarm = (
                Alarm.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, cleared_at__isnull=True, closed_at__isnull=True, hazard__isnull=True)
                .select_related("device", "institution")
                .first()
            )
            if alarm is None:
                continue
            device = alarm.device
            place = " ".join(x for x in (device.building, device.floor, device.room) if x)
            hours = (now - alarm.first_at).total_seconds() / 3600
            hazard = hazard_services.report(
                _monitor_for(alarm.region_path),
                alarm.institution,
                source=Source.ALARM,
                category=Category.FIRE,
                level=Hazard.Level.GENERAL,
                description=_("%(kind)s of %(device)s (%(serial)s) not cleared for %(hours)s hours (alarm #%(alarm)s).")
                % {"kind": alarm_label(alarm.kind), "device": device.name, "serial": device.serial,
                   "hours": _hours(hours), "alarm": alarm.pk},
                location=place,
                source_ref=f"alarm:{alarm.pk}",
                system=True,
            )  # fmt: skip
            alarm.hazard = hazard
            alarm.save(update_fields=["hazard"])
            AlarmEvent.objects.create(alarm=alarm, action="hazard", data={"hazard": hazard.pk})
            raised += 1
    return raised


DUTY_CHECK_SWEEP = 500  # checks judged per run; the rest on the next one


def unanswered_duty_checks(now: dt.datetime | None = None) -> int:
    """Judge the duty checks (查岗, events `duty_check_sent` of a transmission device) whose answer time
    has passed: answered (an event `duty_check_answer` of the same device received within the window)
    or unanswered, written in the check's `value`. An unanswered one becomes a general
    fire hazard of the institution found by `minan-monitor` — one open at a time per institution: while
    one is open, later misses are only marked. Claim-based: safe with several workers. Returns how many
    were unanswered."""
    now = now or timezone.now()
    window = dt.timedelta(minutes=settings.GB26875_DUTY_CHECK_ANSWER_MINUTES)
    due = list(
        Signal.objects.filter(code="duty_check_sent", value="", received_at__lte=now - window)
        .order_by("received_at")
        .values_list("pk", flat=True)[:DUTY_CHECK_SWEEP]
    )
    missed = 0
    for pk in due:
        with transaction.atomic():
            check = (
                Signal.objects.filter(pk=pk, value="").select_related("device", "device__institution").first()
            )
            if check is None:
                continue
            answered = Signal.objects.filter(
                device_id=check.device_id, type=Signal.Type.EVENT, code="duty_check_answer",
                received_at__gte=check.received_at, received_at__lte=check.received_at + window,
            ).exists()  # fmt: skip
            verdict = "answered" if answered else "unanswered"
            if not Signal.objects.filter(pk=pk, value="").update(value=verdict):
                continue  # another worker judged it
            if answered:
                continue
            missed += 1
            device, institution = check.device, check.device.institution
            still_open = (
                Hazard.objects.filter(institution=institution, source_ref__startswith="dutycheck:")
                .exclude(status__in=[Hazard.Status.CLOSED, Hazard.Status.CANCELLED])
                .exists()
            )
            if still_open:
                continue
            sent = timezone.localtime(check.received_at).strftime("%Y-%m-%d %H:%M")
            hazard_services.report(
                _monitor_for(institution.region_path),
                institution,
                source=Source.ALARM,
                category=Category.FIRE,
                level=Hazard.Level.GENERAL,
                description=_(
                    "Duty check not answered (查岗未应答): nobody answered the duty check sent at %(sent)s to "
                    "%(device)s (%(serial)s) within %(minutes)s minutes; the fire-control room may not have "
                    "been staffed."
                )
                % {"sent": sent, "device": device.name, "serial": device.serial,
                   "minutes": settings.GB26875_DUTY_CHECK_ANSWER_MINUTES},
                location=" ".join(x for x in (device.building, device.floor, device.room) if x),
                source_ref=f"dutycheck:{check.pk}",
                system=True,
            )  # fmt: skip
    return missed


def _hours(hours: float) -> str:
    try:
        return str(Decimal(hours).quantize(Decimal("0.1")))
    except InvalidOperation:  # pragma: no cover
        return str(hours)
