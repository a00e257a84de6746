"""Reads for the live alarm board, the alarm history and the device-status panel.

Everything goes through `for_user(user)`; nothing here writes. The board is polled every second, so
it is cheap: `board_token` is one aggregate over the open alarms in scope and one over the devices,
and the rows are read only when the token has changed (a few queries, however many alarms).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Count, DateTimeField, F, IntegerField, Max, Q, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from minan.accounts.roles import ROLE_LABELS, ROLE_PERMISSIONS
from minan.accounts.selectors import staff_of
from minan.core.period import clamp
from minan.firewatch.models import Alarm, Device
from minan.regions.models import Region

from .kinds import alarm_label
from .services import false_alarm_causes

BOARD_LIMIT = 200  # open alarms shown on the board (the most urgent first)

# The four ThingsBoard states from the acknowledged and cleared flags.
STATE_LABELS = {
    "active_unack": _("Unacknowledged"),
    "active_ack": _("Acknowledged"),
    "cleared_unack": _("Cleared, unacknowledged"),
    "cleared_ack": _("Cleared, acknowledged"),
}

# Chinese labels of the AlarmEvent actions, for the timeline.
EVENT_LABELS = {
    "raised": _("Raised"),
    "repeated": _("Repeated"),
    "escalated": _("Escalated"),
    "acknowledged": _("Acknowledged"),
    "cleared": _("Cleared"),
    "closed": pgettext_lazy("alarm state", "Closed"),
    "hazard": _("Became a hazard"),
    "unpaged": _("Cleared before anyone was told"),
    "reminded": _("Reminded: acknowledged but not cleared"),
}

# --- the board's order (docs/firewatch.md, "Alarm board") -------------------------------------------------
# Three sections, each in its own order; one ORDER BY does it all, so the page, its refresh and the API
# list the same alarms in the same order:
# 1. unacknowledged (the escalation is running; restored ones too, they still escalate): fire first, then
#    by severity (critical, major, minor), the highest escalation step first, the oldest first;
# 2. acknowledged, being handled (not cleared): fire, severity, the oldest first;
# 3. restored (cleared) and acknowledged, waiting for the close-out: fire, severity, restored longest ago
#    first.
# Closed alarms leave the board (the history has them). Ties: the lower id first.
UNACKNOWLEDGED, HANDLING, RESTORED = "unacknowledged", "handling", "restored"
SECTIONS = (UNACKNOWLEDGED, HANDLING, RESTORED)
SECTION_LABELS = {
    UNACKNOWLEDGED: _("Awaiting acknowledgement"),
    HANDLING: _("Being handled"),
    RESTORED: _("Restored, awaiting close-out"),
}
SECTION_Q = {
    UNACKNOWLEDGED: Q(acknowledged_at__isnull=True),
    HANDLING: Q(acknowledged_at__isnull=False, cleared_at__isnull=True),
    RESTORED: Q(acknowledged_at__isnull=False, cleared_at__isnull=False),
}
BOARD_SECTION = Case(
    When(SECTION_Q[UNACKNOWLEDGED], then=Value(0)),
    When(SECTION_Q[HANDLING], then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
BOARD_RANK = Case(
    When(kind="fire", then=Value(0)),
    When(severity=Alarm.Severity.CRITICAL, then=Value(1)),
    When(severity=Alarm.Severity.MAJOR, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
BOARD_ESCALATION = Case(
    When(SECTION_Q[UNACKNOWLEDGED], then=F("escalation_step")), default=Value(0), output_field=IntegerField()
)
BOARD_SINCE = Case(
    When(SECTION_Q[RESTORED], then=F("cleared_at")), default=F("first_at"), output_field=DateTimeField()
)
BOARD_ORDER = ("board_section", "board_rank", "-board_escalation", "board_since", "id")


def state_of(alarm: Alarm) -> str:
    cleared = "cleared" if alarm.cleared_at is not None else "active"
    acked = "ack" if alarm.acknowledged_at is not None else "unack"
    return f"{cleared}_{acked}"


def section_of(alarm: Alarm) -> str:
    """The board section of an open alarm (as `BOARD_SECTION` puts it)."""
    if alarm.acknowledged_at is None:
        return UNACKNOWLEDGED
    return HANDLING if alarm.cleared_at is None else RESTORED


def state_label(alarm: Alarm) -> str:
    return str(STATE_LABELS[state_of(alarm)])


def location(device: Device) -> str:
    return " ".join(x for x in (device.building, device.floor, device.room) if x)


@dataclass(frozen=True)
class BoardFilters:
    """The board's filters, checked: severity (`Alarm.Severity`), state (a section) and county (a county
    in the user's scope: another is ignored, `refused` says so)."""

    severity: str = ""
    state: str = ""
    county: str = ""
    county_path: str = ""
    refused: bool = False

    def params(self) -> dict[str, str]:
        found = {"severity": self.severity, "state": self.state, "county": self.county}
        return {key: value for key, value in found.items() if value}


def board_counties(user: Any, code: str | None = None) -> QuerySet[Region]:
    """The counties in the user's scope (the choices of the county filter)."""
    qs = Region.objects.for_user(user).filter(level=Region.Level.COUNTY)
    if code is not None:
        qs = qs.filter(code=code)
    return qs.order_by("region_path")


def board_filters(user: Any, params: Mapping[str, Any], counties: list[Region] | None = None) -> BoardFilters:
    """The filters of a request. A county is looked up among `counties` (the page has them) or, for the
    refresh, in one query, only when one is asked for."""
    severity = str(params.get("severity", "")).strip()
    state = str(params.get("state", "")).strip()
    county = str(params.get("county", "")).strip()[:20]
    path, refused = "", False
    if county:
        pool = counties if counties is not None else list(board_counties(user, county))
        found = next((r for r in pool if r.code == county), None)
        if found is None:
            county, refused = "", True
        else:
            path = found.region_path
    return BoardFilters(
        severity=severity if severity in Alarm.Severity.values else "",
        state=state if state in SECTIONS else "",
        county=county,
        county_path=path,
        refused=refused,
    )


def board_alarms(user: Any, filters: BoardFilters | None = None) -> QuerySet[Alarm]:
    """Open (not closed) alarms in scope, filtered, in the board's order (sections, then as above), with
    what a row shows (one query)."""
    filters = filters or BoardFilters()
    qs = Alarm.objects.for_user(user).filter(closed_at__isnull=True)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.state:
        qs = qs.filter(SECTION_Q[filters.state])
    if filters.county_path:
        qs = qs.filter(region_path__startswith=filters.county_path)
    return (
        qs.select_related("device", "institution", "acknowledged_by", "cleared_by")
        .annotate(
            board_section=BOARD_SECTION,
            board_rank=BOARD_RANK,
            board_escalation=BOARD_ESCALATION,
            board_since=BOARD_SINCE,
        )
        .order_by(*BOARD_ORDER)
    )


def fire_unacknowledged(user: Any) -> list[int]:
    """The unacknowledged fire alarms in the whole scope, oldest first (one query): a filtered board
    still tells of them and beeps for them."""
    return list(
        Alarm.objects.for_user(user)
        .filter(closed_at__isnull=True, kind="fire", acknowledged_at__isnull=True)
        .order_by("first_at", "id")
        .values_list("pk", flat=True)
    )


def acknowledging_roles() -> list[str]:
    """The labels of the roles that may acknowledge an alarm, in the order of the role list."""
    return [
        str(label)
        for role, label in ROLE_LABELS.items()
        if "firewatch.acknowledge_alarm" in ROLE_PERMISSIONS.get(role, frozenset())
    ]


def on_duty_staff(institution_ids: set[int]) -> dict[int, list[str]]:
    """The names of each institution's on-duty staff (the first step of the escalation chains): one
    query, none without institutions."""
    if not institution_ids:
        return {}
    return {pk: sorted(u.display_name for u in users) for pk, users in staff_of(institution_ids).items()}


def age(since: dt.datetime, now: dt.datetime) -> str:
    """How long ago, in the unit people read on a board (firewatch.js renews it with the same steps)."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return gettext("just now")
    if minutes < 60:
        return ngettext("%(n)d minute ago", "%(n)d minutes ago", minutes) % {"n": minutes}
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(n)d hour ago", "%(n)d hours ago", hours) % {"n": hours}
    days = hours // 24
    return ngettext("%(n)d day ago", "%(n)d days ago", days) % {"n": days}


def board_token(user: Any, now: dt.datetime | None = None) -> str:
    """Changes whenever anything the board shows changes: two aggregate queries."""
    now = now or timezone.now()
    alarms = (
        Alarm.objects.for_user(user)
        .filter(closed_at__isnull=True)
        .aggregate(
            n=Count("pk"), top=Max("pk"), last=Max("last_at"), ack=Max("acknowledged_at"),
            ack_n=Count("acknowledged_at"), cleared=Max("cleared_at"), cleared_n=Count("cleared_at"),
            repeats=Sum("count"), steps=Sum("escalation_step"),
        )
    )  # fmt: skip
    devices = device_totals(user, now)
    raw = repr((sorted(alarms.items()), sorted(devices.items()), timezone.get_current_timezone_name()))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


def _maintenance_q(now: dt.datetime) -> Q:
    # As the device list's `maintenance=1` filter (`devices.selectors.filter_devices`), so the counts match its links.
    return Q(maintenance_until__gte=now) & (Q(maintenance_from__isnull=True) | Q(maintenance_from__lte=now))


def _device_counts(now: dt.datetime) -> dict[str, Any]:
    return {
        "total": Count("pk"),
        "online": Count("pk", filter=Q(status=Device.Status.ONLINE)),
        "offline": Count("pk", filter=Q(status=Device.Status.OFFLINE)),
        "unknown": Count("pk", filter=Q(status=Device.Status.UNKNOWN)),
        "maintenance": Count("pk", filter=_maintenance_q(now)),
    }


def device_totals(user: Any, now: dt.datetime) -> dict[str, int]:
    return Device.objects.for_user(user).filter(active=True).aggregate(**_device_counts(now))


@dataclass
class DeviceStatusRow:
    institution_id: int
    name: str
    total: int
    online: int
    offline: int
    unknown: int
    maintenance: int


def device_status(user: Any, now: dt.datetime | None = None, county_path: str = "") -> list[DeviceStatusRow]:
    """Per institution in scope (in that county, if one is given) with devices in service: total,
    online, offline, never heard from, in maintenance (one grouped query). Institutions with offline
    devices first."""
    now = now or timezone.now()
    qs = Device.objects.for_user(user).filter(active=True)
    if county_path:
        qs = qs.filter(region_path__startswith=county_path)
    rows = qs.values_list("institution_id", "institution__name").annotate(**_device_counts(now)).order_by()
    found = [DeviceStatusRow(*row) for row in rows]
    return sorted(found, key=lambda r: (-r.offline, -r.unknown, r.name, r.institution_id))


# --- the alarm history --------------------------------------------------------------------------------------


def _day(raw: Any) -> dt.date | None:
    try:
        return clamp(dt.date.fromisoformat(str(raw or "").strip()))
    except ValueError:
        return None


def filter_alarms(qs: QuerySet[Alarm], params: Mapping[str, Any]) -> QuerySet[Alarm]:
    """The history's filters: institution (id), county (region code), kind, severity, state (open or
    closed), classification, date_from/date_to (local dates of `first_at`, both included)."""
    if (institution := str(params.get("institution", "")).strip()).isdigit():
        qs = qs.filter(institution_id=int(institution))
    if (region := str(params.get("county", "")).strip()).isdigit():
        qs = qs.filter(Q(region_path__startswith=f"{region}/") | Q(region_path__contains=f"/{region}/"))
    if kind := str(params.get("kind", "")).strip():
        qs = qs.filter(kind=kind[:40])
    if params.get("severity") in Alarm.Severity.values:
        qs = qs.filter(severity=params["severity"])
    state = params.get("state")
    if state == "open":
        qs = qs.filter(closed_at__isnull=True)
    elif state == "closed":
        qs = qs.filter(closed_at__isnull=False)
    if params.get("classification") in Alarm.Classification.values:
        qs = qs.filter(classification=params["classification"])
    if (start := _day(params.get("date_from"))) is not None:
        qs = qs.filter(first_at__gte=_day_start(start))
    if (end := _day(params.get("date_to"))) is not None:
        qs = qs.filter(first_at__lt=_day_start(end + dt.timedelta(days=1)))
    return qs


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def kind_choices(qs: QuerySet[Alarm]) -> list[tuple[str, str]]:
    """The kinds that occur (alarm kinds are open-ended: threshold:<code>)."""
    kinds = sorted(set(qs.order_by().values_list("kind", flat=True).distinct()))
    return [(k, alarm_label(k)) for k in kinds]


def yes_no(value: Any) -> str:
    return gettext("yes") if value else gettext("no")


def close_detail_rows(alarm: Alarm) -> list[tuple[str, str]]:
    """The close-out detail as (label, value) rows, in the order of the form."""
    detail = alarm.close_detail or {}
    labels = {
        "confirmed_at": gettext("Confirmed at"),
        "called_119": gettext("119 called"),
        "called_119_at": gettext("119 called at"),
        "plan_started": gettext("Fire plan started"),
        "casualties": gettext("Casualties"),
        "losses": gettext("Losses"),
        "cause": gettext("Cause"),
        "repair_log": gettext("Repair-log entry"),
        "tested_by": gettext("Tested by"),
        "maintenance_window": gettext("Maintenance window"),
        "description": gettext("Fault description"),
        "maintenance_order": gettext("Maintenance order"),
        "note": gettext("Note"),
    }
    causes = false_alarm_causes()
    rows = []
    for key, label in labels.items():
        if key not in detail:
            continue
        value = detail[key]
        if isinstance(value, bool):
            text = yes_no(value)
        elif key == "cause":
            text = causes.get(str(value), str(value))
        elif key in {"confirmed_at", "called_119_at"}:
            when = parse_datetime(str(value))
            text = timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else str(value)
        else:
            text = str(value)
        rows.append((label, text))
    return rows
