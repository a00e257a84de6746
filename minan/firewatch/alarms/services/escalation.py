"""The escalation of alarms: a new alarm starts its institution's chain, the sweep moves it on.

- A new alarm starts its institution's chain (`start`, called by `record_signals` in the same
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
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from minan.accounts.selectors import people_over, staff_of
from minan.duty.selectors import cadres_of
from minan.firewatch.models import Alarm, AlarmEvent, EscalationChain
from minan.institutions.models import Commissioner
from minan.notify.services import Message, notify_many
from minan.regions import paths

from ..kinds import alarm_label_lazy
from .chains import chain_kind, chain_of, chains_for


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


def _group_message(alarms: list[Alarm], people: list[Any], step: int) -> Any:
    """One message for several alarms of one institution reaching the same step together."""
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
