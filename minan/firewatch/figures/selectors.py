"""Fire-monitoring figures per county, for a period (local dates, both ends included;
by default the last 30 days up to today).

Everything is read through `for_user(user)` (`Device`, `Alarm`, `Region`), with a constant number of
grouped queries however many devices and alarms there are: one over the devices, one over the alarms,
one for the county names.

- online rate: devices online ÷ devices in service (now, not over the period);
- alarms per 100 devices: alarms raised in the period (every kind) × 100 ÷ devices in service;
- false-alarm rate: of the fire alarms raised in the period and closed, the share classified
  "false alarm" (GB 25201 close-out);
- mean time to acknowledge: fire alarms raised in the period and acknowledged, the mean of
  (acknowledged − first), in minutes.

Rates are percentages with one decimal (half up), None when there is nothing to divide by. Every
county of the scope is listed (zeros included), and a total row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import period
from minan.duty.selectors import COUNTY_PATH_LENGTH
from minan.firewatch.models import Alarm, Device
from minan.regions import selectors as regions
from minan.regions.paths import county_code

DEFAULT_DAYS = 30


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


def parse_period(params: Mapping[str, Any], today: dt.date) -> tuple[dt.date, dt.date]:
    """`from` and `to` (YYYY-MM-DD; either may be left out: the default start or end)."""
    return period.parse_period(params, default_period(today))


def _rate(part: int | Decimal, whole: int, scale: int = 100) -> float | None:
    if not whole:
        return None
    exact = Decimal(part) * scale / Decimal(whole)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass
class CountyFigures:
    code: str = ""  # "" for the total
    name: str = ""
    devices: int = 0  # in service
    online: int = 0
    alarms: int = 0  # raised in the period
    fire_closed: int = 0
    fire_false: int = 0
    fire_acknowledged: int = 0
    ack_seconds: float = 0.0  # summed over the acknowledged fire alarms

    def add(self, other: CountyFigures) -> None:
        for name in ("devices", "online", "alarms", "fire_closed", "fire_false", "fire_acknowledged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ack_seconds += other.ack_seconds

    @property
    def online_rate(self) -> float | None:
        return _rate(self.online, self.devices)

    @property
    def alarms_per_100(self) -> float | None:
        return _rate(self.alarms, self.devices)

    @property
    def false_alarm_rate(self) -> float | None:
        return _rate(self.fire_false, self.fire_closed)

    @property
    def mean_ack_minutes(self) -> float | None:
        if not self.fire_acknowledged:
            return None
        return _rate(Decimal(str(self.ack_seconds)), self.fire_acknowledged * 60, scale=1)


@dataclass
class FirewatchFigures:
    date_from: dt.date
    date_to: dt.date
    total: CountyFigures
    counties: list[CountyFigures] = field(default_factory=list)


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000  # a backend that sums durations as microseconds


def figures(user: Any, date_from: dt.date, date_to: dt.date) -> FirewatchFigures:
    """The figures of the user's scope for the period (see the module docstring)."""
    start, end = _day_start(date_from), _day_start(date_to + dt.timedelta(days=1))
    county = Substr("region_path", 1, COUNTY_PATH_LENGTH)
    rows: dict[str, CountyFigures] = {}

    def row(prefix: str) -> CountyFigures:
        code = county_code(prefix)
        return rows.setdefault(code, CountyFigures(code, code))

    devices = (
        Device.objects.for_user(user)
        .filter(active=True)
        .annotate(county=county)
        .values_list("county")
        .annotate(n=Count("pk"), online=Count("pk", filter=Q(status=Device.Status.ONLINE)))
        .order_by()
    )
    for prefix, n, online in devices:
        entry = row(prefix)
        entry.devices += n
        entry.online += online

    fire = Q(kind="fire")
    closed = fire & Q(closed_at__isnull=False)
    acked = fire & Q(acknowledged_at__isnull=False)
    wait = ExpressionWrapper(F("acknowledged_at") - F("first_at"), output_field=DurationField())
    alarms = (
        Alarm.objects.for_user(user)
        .filter(first_at__gte=start, first_at__lt=end)
        .annotate(county=county)
        .values_list("county")
        .annotate(
            n=Count("pk"),
            fire_closed=Count("pk", filter=closed),
            fire_false=Count("pk", filter=closed & Q(classification=Alarm.Classification.FALSE)),
            fire_acknowledged=Count("pk", filter=acked),
            ack_total=Sum(wait, filter=acked),
        )
        .order_by()
    )
    for prefix, n, fire_closed, fire_false, fire_acknowledged, ack_total in alarms:
        entry = row(prefix)
        entry.alarms += n
        entry.fire_closed += fire_closed
        entry.fire_false += fire_false
        entry.fire_acknowledged += fire_acknowledged
        entry.ack_seconds += _seconds(ack_total)

    names = regions.names(rows, counties_of=user)
    total = CountyFigures(name=_("Total"))
    listed = []
    for code in sorted(set(rows) | set(names)):
        entry = rows.get(code) or CountyFigures(code)
        entry.name = names.get(code, code)
        total.add(entry)
        listed.append(entry)
    return FirewatchFigures(date_from=date_from, date_to=date_to, total=total, counties=listed)
