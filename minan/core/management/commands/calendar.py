"""`minan calendar`: the working-day calendar from the command line.

- `calendar status` lists last, this and next year and where each year's data comes from; it exits with
  status 1 when a year that deadlines may already reach is not loaded (next year from
  settings.CALENDAR_WARN_FROM, 'MM-DD'; this year always), so it can run from cron or monitoring.
- `calendar add-working-days DATE N` prints the N-th working day after DATE (N = 0: DATE itself if it is
  a working day, else the next one), or fails when the calendar for a year on the way is not loaded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from minan.core import calendar
from minan.core.models import CalendarOverride, CalendarYear


def _iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Working-day calendar: `calendar status`, `calendar add-working-days DATE N`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{status,add-working-days}")
        sub.add_parser(
            "status",
            help="Show where last, this and next year's calendar comes from; exit 1 if a needed year is missing.",
        )
        add = sub.add_parser("add-working-days", help="Print the N-th working day after DATE.")
        add.add_argument("date", help="start date, YYYY-MM-DD (not counted)")
        add.add_argument("n", type=int, help="number of working days, 0 or more")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "status":
            self.status()
        else:
            self.add_working_days(options["date"], options["n"])

    def status(self) -> None:
        today = timezone.localdate()
        for year in range(today.year - 1, today.year + 2):
            entry = CalendarYear.objects.filter(year=year).first()
            overrides = CalendarOverride.objects.filter(date__year=year).count()
            if calendar.package_covers(year):
                state = "built in (chinesecalendar package)"
                if entry is not None:
                    state += f"; also marked loaded by hand ({entry.source})"
            elif entry is not None:
                who = entry.entered_by.get_username() if entry.entered_by else "unknown"
                state = (
                    f"entered by hand ({entry.source}; by {who} on {timezone.localdate(entry.entered_at)})"
                )
            else:
                state = "NOT LOADED"
            self.stdout.write(f"{year}  {state}  [{overrides} override entries]")
        warning = calendar.missing_year_warning(today)
        if warning:
            raise CommandError(warning)
        self.stdout.write("OK")

    def add_working_days(self, raw_date: str, n: int) -> None:
        start = _iso_date(raw_date)
        if n < 0:
            raise CommandError("N must be 0 or more.")
        try:
            result = calendar.add_working_days(start, n)
        except calendar.CalendarNotLoaded as exc:
            raise CommandError(
                f"Cannot count {n} working days after {start.isoformat()}: {exc.message} "
                "(see `minan calendar status`)."
            ) from exc
        self.stdout.write(result.isoformat())
