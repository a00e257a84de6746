"""The hazard deadline sweep with 10,000 open hazards (`make bench-hazards`, part of `make bench`).

Data: the Jining demo plus 10,000 open general hazards spread over its institutions, assigned on
working days of September–November 2026 with deadlines of 5–30 working days, each already at the
escalation step it had reached the day before. Measured on 2026-11-27 (a Friday):

- baseline: reading the open hazards with a deadline (`values_list` of id, assigned_on, deadline,
  step) — what any sweep must read;
- the sweep of the day (`hazards.services.escalate_due`): working-day index, step of every hazard,
  conditional UPDATE and notifications for those that reach a new step;
- the same sweep run again the same day (nothing to send: the steady state of an hourly sweep).

Runs on a throw-away SQLite file, or on DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()

from django.db import connection  # noqa: E402

HAZARDS = int(os.environ.get("BENCH_HAZARDS", "10000"))
TODAY = dt.date(2026, 11, 27)


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    return _django.timed(fn, repeat)


def main() -> None:
    print(f"database: {connection.vendor}")
    _django.load_demo()

    from minan.accounts.models import User
    from minan.core import calendar
    from minan.hazards import services as hazards
    from minan.hazards.models import Hazard
    from minan.institutions.models import Institution

    rng = random.Random(6)  # noqa: S311 (benchmark data)
    institutions = list(Institution.objects.values_list("pk", "region_path"))
    finder = User.objects.get(username="inspector")
    starts = [
        d for d in (dt.date(2026, 9, 1) + dt.timedelta(days=n) for n in range(70)) if calendar.is_workday(d)
    ]
    index = hazards.WorkingDayIndex(starts[0], dt.date(2026, 12, 31))
    yesterday = dt.date(2026, 11, 26)
    rows = []
    for n in range(HAZARDS):
        pk, path = institutions[n % len(institutions)]
        assigned = rng.choice(starts)
        deadline = calendar.add_working_days(assigned, rng.choice([5, 5, 5, 10, 15, 30]))
        rows.append(
            Hazard(
                institution_id=pk,
                region_path=path,
                source="inspection",
                category="fire",
                level="general",
                description=f"基准隐患{n}",
                found_by=finder,
                found_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
                status=Hazard.Status.RECTIFYING,
                assigned_on=assigned,
                deadline=deadline,
                escalation_step=hazards.escalation_step(index, assigned, deadline, yesterday),
            )  # fmt: skip
        )
    Hazard.objects.bulk_create(rows, batch_size=2000)
    print(f"open hazards: {Hazard.objects.filter(status='rectifying').count()}")

    def baseline() -> None:
        list(
            Hazard.objects.filter(
                status__in=["assigned", "rectifying", "rejected", "submitted"], deadline__isnull=False
            ).values_list("pk", "assigned_on", "deadline", "escalation_step")
        )

    base = timed(baseline)
    import time_machine

    with time_machine.travel(dt.datetime(2026, 11, 27, 1, tzinfo=dt.UTC), tick=True):
        start = time.perf_counter()
        sent = hazards.escalate_due(TODAY)
        first = time.perf_counter() - start
        again = timed(lambda: hazards.escalate_due(TODAY))
    changed = sum(sent.values())
    print(f"baseline read: {base * 1000:.1f} ms")
    print(
        f"sweep of the day: {first * 1000:.0f} ms (ratio {first / base:.1f}), {changed} hazards reached a new step {sent}"
    )
    print(f"sweep again the same day: {again * 1000:.0f} ms (ratio {again / base:.1f})")


if __name__ == "__main__":
    main()
