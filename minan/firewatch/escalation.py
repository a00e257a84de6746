"""People act on alarms: the escalation chain, acknowledgement, close-out, and faults that become hazards.

- A new alarm starts its institution's chain (`start`, called by `record_signal` in the same
  transaction): step 0 at once, each later step `wait_minutes` after the one before, then the last step
  again every `repeat_minutes` until someone acknowledges. Messages go through the notification
  service (urgent for fire), inside the transaction that raised or escalated the alarm, so a message is
  enqueued exactly when the alarm is committed.
- Grouping: the first step of an alarm other than fire waits
  `MINAN_ALARM_GROUP_WAIT_SECONDS` (60) and joins the pending first step of its institution's other
  alarms, so a gateway that drops 40 detectors sends one message, not 40; one that comes back within
  the wait pages nobody (the alarms stay on the board and in the history). Alarms of one institution
  reaching a step together go out as one message. Fire is never delayed nor grouped: one message per
  fire alarm, in the transaction that raised it (the 500 ms target, which a 5 s grouping wait
  would break).
- Acknowledgement expiry (off by default): with `MINAN_FIRE_ACK_EXPIRY_MINUTES` /
  `MINAN_ALARM_ACK_EXPIRY_MINUTES` set, an acknowledged alarm not cleared that long after reminds
  whoever acknowledged it and the first step's people, again every as many minutes, until it is
  cleared or closed (`next_escalation_at` holds when; the sweep does it).
- `escalate_due(now)` is the claim-based sweep (Huey every minute and the ingest process every few
  seconds): alarms whose `next_escalation_at` has passed are locked with SKIP LOCKED, re-read, and
  moved on; two sweeps never send a step twice. If the sweep was late, the people of every step reached
  are told in one message.
- `acknowledge` stops the chain; `clear` marks by hand that the condition is over (refused while the
  device still reports it); `close` needs the GB 25201 classification with its detail.
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
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.accounts.selectors import people_over, staff_of
from minan.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.duty.selectors import cadres_of
from minan.institutions.models import Commissioner
from minan.regions import paths

from .models import Alarm, AlarmEvent, Device, EscalationChain, Signal

RECIPIENTS = {
    "duty_staff": gettext_lazy("institution on-duty staff"),
    "safety_commissioner": gettext_lazy("institution safety commissioner"),
    "cadre": gettext_lazy("responsible cadre (包保)"),
    "county_duty": gettext_lazy("county duty officer"),
    "city_office": gettext_lazy("city safety office"),
}

# Shipped defaults: fire repeats every 10 minutes until acknowledged, the other kinds once a day.
# Waits are minutes after the previous step.
DEFAULT_CHAINS: dict[str, dict[str, Any]] = {
    EscalationChain.Kind.FIRE: {
        "steps": [
            {"wait_minutes": 0, "notify": ["duty_staff"]},
            {"wait_minutes": 3, "notify": ["safety_commissioner"]},
            {"wait_minutes": 5, "notify": ["cadre", "county_duty"]},
            {"wait_minutes": 10, "notify": ["city_office"]},
        ],
        "repeat_minutes": 10,
    },
    EscalationChain.Kind.OTHER: {
        "steps": [
            {"wait_minutes": 0, "notify": ["duty_staff"]},
            {"wait_minutes": 240, "notify": ["safety_commissioner"]},
            {"wait_minutes": 1200, "notify": ["cadre"]},
        ],
        "repeat_minutes": 1440,
    },
}

FIRE_SYSTEM_FAULTS = {"fault", "offline"}


def chain_kind(alarm: Alarm) -> str:
    return EscalationChain.Kind.FIRE if alarm.kind == "fire" else EscalationChain.Kind.OTHER


def ack_expiry(alarm: Alarm) -> dt.timedelta | None:
    """How long an acknowledgement of this alarm holds before it reminds, or None (off)."""
    name = (
        "FIRE_ACK_EXPIRY_MINUTES"
        if chain_kind(alarm) == EscalationChain.Kind.FIRE
        else "ALARM_ACK_EXPIRY_MINUTES"
    )
    minutes = int(getattr(settings, name, 0))
    return dt.timedelta(minutes=minutes) if minutes > 0 else None


def group_wait() -> dt.timedelta:
    """How long the first message of an alarm other than fire waits for others of its institution."""
    return dt.timedelta(seconds=int(getattr(settings, "ALARM_GROUP_WAIT_SECONDS", 60)))


def validate_steps(steps: Any, repeat_minutes: Any) -> tuple[list[dict[str, Any]], int]:
    """The chain as entered, checked: at least one step, whole minutes ≥ 0, known recipients."""
    if not isinstance(steps, list) or not steps:
        raise DomainError(_("A chain needs at least one step."), field="steps")
    if len(steps) > 10:
        raise DomainError(_("A chain has at most 10 steps."), field="steps")
    clean = []
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise DomainError(_("Step %(n)d is not valid.") % {"n": number}, field="steps")
        wait, notify = step.get("wait_minutes"), step.get("notify")
        if not isinstance(wait, int) or isinstance(wait, bool) or not 0 <= wait <= 7 * 24 * 60:
            raise DomainError(
                _("Step %(n)d: the wait is a whole number of minutes between 0 and 10080.") % {"n": number},
                field="steps",
            )
        if not isinstance(notify, list) or not notify or any(code not in RECIPIENTS for code in notify):
            raise DomainError(_("Step %(n)d: choose who is told.") % {"n": number}, field="steps")
        clean.append({"wait_minutes": wait, "notify": list(dict.fromkeys(notify))})
    if (
        not isinstance(repeat_minutes, int)
        or isinstance(repeat_minutes, bool)
        or not 0 <= repeat_minutes <= 10080
    ):
        raise DomainError(_("Repeat every: whole minutes between 0 and 10080."), field="repeat_minutes")
    return clean, repeat_minutes


def chains_for(institution_ids: set[int]) -> dict[tuple[int | None, str], dict[str, Any]]:
    """The chain rows that apply to these institutions, keyed (institution or None, kind)."""
    rows = EscalationChain.objects.filter(
        Q(institution_id__in=institution_ids) | Q(institution_id__isnull=True)
    )
    return {(c.institution_id, c.kind): {"steps": c.steps, "repeat_minutes": c.repeat_minutes} for c in rows}


def chain_of(alarm: Alarm, rows: dict[tuple[int | None, str], dict[str, Any]]) -> dict[str, Any]:
    kind = chain_kind(alarm)
    return rows.get((alarm.institution_id, kind)) or rows.get((None, kind)) or DEFAULT_CHAINS[kind]


def _step_spec(chain: dict[str, Any], step: int) -> dict[str, Any] | None:
    """The step numbered `step` (0-based; beyond the list: a repeat of the last, if the chain repeats)."""
    steps: list[dict[str, Any]] = chain["steps"]
    if step < len(steps):
        return steps[step]
    return steps[-1] if chain["repeat_minutes"] else None


def _after(
    chain: dict[str, Any], step: int, due: dt.datetime, now: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """Step `step`, due at `due`, has been sent: the next step and when it is due. Repeats missed while
    the sweep did not run are skipped arithmetically (their people are the same), so a late sweep or
    an alarm from long ago costs one step, not thousands."""
    steps: list[dict[str, Any]] = chain["steps"]
    if step + 1 < len(steps):
        return step + 1, due + dt.timedelta(minutes=steps[step + 1]["wait_minutes"])
    if not chain["repeat_minutes"]:
        return step + 1, None
    period = dt.timedelta(minutes=chain["repeat_minutes"])
    missed = max(0, (now - due) // period)
    return step + 1 + missed, due + period * (1 + missed)


def recipients(alarms: list[Alarm], codes_by_alarm: dict[int, set[str]]) -> dict[int, list[Any]]:
    """The people each alarm's steps name, read for the whole batch in a few queries."""
    wanted = set().union(*codes_by_alarm.values()) if codes_by_alarm else set()
    ids = {a.institution_id for a in alarms}
    staff = staff_of(ids) if "duty_staff" in wanted else {}
    commissioners: dict[int, list[Any]] = {}
    if "safety_commissioner" in wanted:
        for c in Commissioner.objects.filter(
            institution_id__in=ids, role="safety", user__is_active=True
        ).select_related("user"):
            commissioners.setdefault(c.institution_id, []).append(c.user)
    cadres = cadres_of(ids) if "cadre" in wanted else {}
    places: dict[str, list[Any]] = {}
    for code, role, depth in (("county_duty", "county_officer", 3), ("city_office", "city_safety_office", 2)):
        if code in wanted:
            over = people_over({paths.ancestor(a.region_path, depth) for a in alarms}, role)
            places.update({f"{code}:{path}": people for path, people in over.items()})
    found: dict[int, list[Any]] = {}
    for alarm in alarms:
        codes = codes_by_alarm.get(alarm.pk, set())
        people: list[Any] = []
        if "duty_staff" in codes:
            people += staff.get(alarm.institution_id, [])
        if "safety_commissioner" in codes:
            people += commissioners.get(alarm.institution_id, [])
        if "cadre" in codes:
            people += cadres.get(alarm.institution_id, [])
        if "county_duty" in codes:
            people += places.get(f"county_duty:{paths.ancestor(alarm.region_path, 3)}", [])
        if "city_office" in codes:
            people += places.get(f"city_office:{paths.ancestor(alarm.region_path, 2)}", [])
        found[alarm.pk] = list({p.pk: p for p in people}.values())
    return found


def _message(alarm: Alarm, people: list[Any], step: int) -> Any:
    from minan.notify.services import Message

    device = alarm.device
    place = " ".join(x for x in (device.building, device.floor, device.room) if x)
    return Message(
        people,
        "firewatch.alarm",
        {
            "alarm": f"#{alarm.pk}", "kind": alarm_label_lazy(alarm.kind), "fire": alarm.kind == "fire",
            "institution": alarm.institution.name, "device": device.name, "location": place,
            "first_at": timezone.localtime(alarm.first_at).strftime("%Y-%m-%d %H:%M:%S"), "step": step,
            "count": alarm.count,
        },
        "urgent" if alarm.severity == Alarm.Severity.CRITICAL else None,
        link=f"/firewatch/alarms/{alarm.pk}/",
        place=alarm.region_path,
    )  # fmt: skip


KIND_LABELS = {
    "fire": gettext_lazy("Fire alarm"),
    "supervisory": gettext_lazy("Supervisory alarm"),
    "gas": gettext_lazy("Combustible gas"),
    "fault": gettext_lazy("Fault"),
    "offline": gettext_lazy("Offline"),
    "power_fault": gettext_lazy("Power fault"),
    "isolated": gettext_lazy("Isolated"),
}


def alarm_label(kind: str) -> str:
    if kind.startswith("threshold:"):
        return _("Threshold: %(code)s") % {"code": kind.split(":", 1)[1]}
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


# The label translated when it is shown: a message renders it in each recipient's own language.
alarm_label_lazy = lazy(alarm_label, str)


def _group_message(alarms: list[Alarm], people: list[Any], step: int) -> Any:
    """One message for several alarms of one institution reaching the same step together."""
    from minan.notify.services import Message

    first = alarms[0]
    shown = [_message(a, people, step).context for a in alarms[:GROUP_MESSAGE_ROWS]]
    return Message(
        people,
        "firewatch.alarms",
        {
            "institution": first.institution.name,
            "alarms": shown,
            "more": len(alarms) - len(shown),
            "step": step,
        },
        "urgent" if any(a.severity == Alarm.Severity.CRITICAL for a in alarms) else None,
        link=f"/firewatch/alarms/?institution={first.institution_id}&state=open",
        place=first.region_path,
    )


GROUP_MESSAGE_ROWS = 20  # alarms listed in one grouped message; the rest are counted


def _messages(told: list[Alarm], people: dict[int, list[Any]], reached: dict[int, int]) -> list[Any]:
    """A message per fire alarm; one per (institution, step, people) for the others."""
    groups: dict[tuple[Any, ...], list[Alarm]] = {}
    for alarm in told:
        if chain_kind(alarm) == EscalationChain.Kind.FIRE:
            key: tuple[Any, ...] = ("fire", alarm.pk)
        else:
            key = (alarm.institution_id, reached[alarm.pk], tuple(sorted(p.pk for p in people[alarm.pk])))
        groups.setdefault(key, []).append(alarm)
    for group in groups.values():
        group.sort(key=lambda a: (a.first_at, a.pk))
    return [
        _message(group[0], people[group[0].pk], reached[group[0].pk])
        if len(group) == 1
        else _group_message(group, people[group[0].pk], reached[group[0].pk])
        for group in groups.values()
    ]


def _advance(
    alarms: list[Alarm], now: dt.datetime, rows: dict[tuple[int | None, str], dict[str, Any]] | None = None
) -> int:
    """Send every step of these (locked, unacknowledged, open) alarms that is due by `now`, and set
    when the next one is due. Returns how many alarms had people told."""
    from minan.notify.services import notify_many

    if rows is None:
        rows = chains_for({a.institution_id for a in alarms})
    codes: dict[int, set[str]] = {}
    reached: dict[int, int] = {}
    unpaged: list[Alarm] = []
    for alarm in alarms:
        chain = chain_of(alarm, rows)
        step, due = alarm.escalation_step, alarm.next_escalation_at
        if step == 0 and alarm.cleared_at is not None and chain_kind(alarm) == EscalationChain.Kind.OTHER:
            # Cleared while its first message waited for the group: nobody is paged for what is over.
            alarm.next_escalation_at = None
            unpaged.append(alarm)
            continue
        wanted: set[str] = set()
        # Deadlines run on the server's clock: each step is due a wait after the
        # previous one was due, starting when the alarm was raised here.
        while due is not None and due <= now and (spec := _step_spec(chain, step)) is not None:
            wanted |= set(spec["notify"])
            step, due = _after(chain, step, due, now)
        if step != alarm.escalation_step:
            codes[alarm.pk] = wanted
            reached[alarm.pk] = step
        alarm.escalation_step, alarm.next_escalation_at = step, due
    # Alarms raised together share their next step: one plain UPDATE per (step, due), not bulk_update's CASE.
    groups: dict[tuple[int, dt.datetime | None], list[int]] = {}
    for alarm in alarms:
        groups.setdefault((alarm.escalation_step, alarm.next_escalation_at), []).append(alarm.pk)
    for (step, due), ids in groups.items():
        Alarm.objects.filter(pk__in=ids).update(escalation_step=step, next_escalation_at=due)
    AlarmEvent.objects.bulk_create(AlarmEvent(alarm=a, action="unpaged") for a in unpaged)
    if not reached:
        return 0
    people = recipients([a for a in alarms if a.pk in reached], codes)
    told = [a for a in alarms if a.pk in reached]
    AlarmEvent.objects.bulk_create(
        AlarmEvent(
            alarm=a,
            action="escalated",
            data={"step": reached[a.pk], "notify": sorted(codes[a.pk]), "people": len(people[a.pk])},
        )  # fmt: skip
        for a in told
    )
    notify_many(_messages(told, people, reached))
    return len(told)


def _pending_groups(alarms: list[Alarm], now: dt.datetime) -> dict[int, dt.datetime]:
    """Per institution, when the waiting first step of its other (not fire) alarms is due."""
    return dict(
        Alarm.objects.filter(
            institution_id__in={a.institution_id for a in alarms},
            escalation_step=0,
            next_escalation_at__gt=now,
            acknowledged_at__isnull=True,
            closed_at__isnull=True,
        )  # fmt: skip
        .exclude(kind="fire")
        .exclude(pk__in=[a.pk for a in alarms])
        .values("institution_id")
        .annotate(due=Min("next_escalation_at"))
        .values_list("institution_id", "due")
    )


def start(alarms: list[Alarm], now: dt.datetime) -> int:
    """Start the chain of newly raised alarms (caller's transaction): the steps due at once are sent
    (fire at once; the others after the group wait, with the group already waiting if there is one)."""
    if not alarms:
        return 0
    rows = chains_for({a.institution_id for a in alarms})
    wait = group_wait()
    grouped = [a for a in alarms if wait and chain_kind(a) == EscalationChain.Kind.OTHER]
    pending = _pending_groups(grouped, now) if grouped else {}
    for alarm in alarms:
        alarm.escalation_step = 0
        first = now + dt.timedelta(minutes=chain_of(alarm, rows)["steps"][0]["wait_minutes"])
        if wait and chain_kind(alarm) == EscalationChain.Kind.OTHER:
            joined = pending.get(alarm.institution_id)
            if joined is None or not first <= joined <= first + wait:
                joined = pending[alarm.institution_id] = first + wait  # a new group
            first = joined
        alarm.next_escalation_at = first
    return _advance(alarms, now, rows)


SWEEP_CHUNK = 200


def _remind(alarms: list[Alarm], now: dt.datetime) -> int:
    """Acknowledged alarms whose acknowledgement expired (locked, open): remind whoever acknowledged
    them and the first step's people, and when again; a cleared one is over (no reminder)."""
    from minan.notify.services import notify_many

    rows = chains_for({a.institution_id for a in alarms})
    due = [a for a in alarms if a.cleared_at is None and ack_expiry(a) is not None]
    Alarm.objects.filter(pk__in=[a.pk for a in alarms if a not in due]).update(next_escalation_at=None)
    if not due:
        return 0
    codes = {a.pk: set(chain_of(a, rows)["steps"][0]["notify"]) for a in due}
    people = recipients(due, codes)
    messages, events = [], []
    for alarm in due:
        expiry = ack_expiry(alarm)
        assert expiry is not None and alarm.acknowledged_at is not None
        Alarm.objects.filter(pk=alarm.pk).update(next_escalation_at=now + expiry)
        told = list({p.pk: p for p in [*people[alarm.pk], alarm.acknowledged_by] if p is not None}.values())
        message = _message(alarm, told, alarm.escalation_step)
        message.context |= {
            "acknowledged_by": alarm.acknowledged_by.display_name if alarm.acknowledged_by else "?",
            "acknowledged_at": timezone.localtime(alarm.acknowledged_at).strftime("%H:%M"),
        }
        messages.append(message)
        events.append(AlarmEvent(alarm=alarm, action="reminded", data={"people": len(told)}))
    AlarmEvent.objects.bulk_create(events)
    notify_many(messages)
    return len(due)


def escalate_due(now: dt.datetime | None = None) -> int:
    """Move every unacknowledged alarm whose next step has fallen due, and remind about acknowledged
    ones whose acknowledgement expired. Safe with several workers."""
    now = now or timezone.now()
    due = list(
        Alarm.objects.filter(next_escalation_at__lte=now, closed_at__isnull=True).values_list("pk", flat=True)
    )
    sent = 0
    for begin in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            locked = list(
                Alarm.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=due[begin : begin + SWEEP_CHUNK], next_escalation_at__lte=now, closed_at__isnull=True)
                .select_related("device", "institution", "acknowledged_by")
            )  # fmt: skip
            waiting = [a for a in locked if a.acknowledged_at is None]
            if waiting:
                sent += _advance(waiting, now)
            if len(waiting) < len(locked):
                sent += _remind([a for a in locked if a.acknowledged_at is not None], now)
    return sent


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


@transaction.atomic
def save_chain(
    actor: Any,
    kind: str,
    steps: Any,
    repeat_minutes: Any,
    *,
    institution: Any = None,
    request: Any = None,
) -> EscalationChain:
    """Set the deployment's default chain for a kind, or an institution's own."""
    from minan.institutions.models import Institution

    if not actor.has_perm("firewatch.change_escalationchain"):
        raise NotPermitted(_("You do not have permission to do this."))
    if institution is not None and not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    if kind not in EscalationChain.Kind.values:
        raise DomainError(_("Choose which alarms the chain applies to."), field="kind")
    clean, repeat = validate_steps(steps, repeat_minutes)
    chain, created = EscalationChain.objects.update_or_create(
        institution=institution, kind=kind, defaults={"steps": clean, "repeat_minutes": repeat}
    )
    record("escalation_chain.save", user=actor, request=request, obj=chain,
           detail=f"{institution.pk if institution else 'default'} {kind} {len(clean)} steps",
           changes={"steps": clean, "repeat_minutes": repeat})  # fmt: skip
    return chain


@transaction.atomic
def reset_chain(actor: Any, kind: str, *, institution: Any = None, request: Any = None) -> int:
    """Remove an institution's own chain (or the saved default), so the next one up applies again."""
    from minan.institutions.models import Institution

    if not actor.has_perm("firewatch.change_escalationchain"):
        raise NotPermitted(_("You do not have permission to do this."))
    if institution is not None and not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    deleted, _rows = EscalationChain.objects.filter(institution=institution, kind=kind).delete()
    if deleted:
        record("escalation_chain.reset", user=actor, request=request, object_type="firewatch.escalationchain",
               detail=f"{institution.pk if institution else 'default'} {kind}")  # fmt: skip
    return deleted


def monitor_user(region: Any) -> Any:
    """The account MinAn's own monitoring acts as (hazards it raises); it cannot log in."""
    from django.contrib.auth import get_user_model

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
    from minan.regions.models import Region

    return monitor_user(Region.objects.filter(region_path=paths.ancestor(region_path, 1)).first())


def fault_hazards(now: dt.datetime | None = None) -> int:
    """Fire-system faults not cleared in time become hazards (once each). Returns hazards raised."""
    from minan.hazards.models import Category, Hazard, Source
    from minan.hazards.services import loop as hazard_services

    from .services import FIRE_SYSTEM

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
    from minan.hazards.models import Category, Hazard, Source
    from minan.hazards.services import loop as hazard_services

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
