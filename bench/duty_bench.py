"""包保 figures at national scale (`make bench-duty`, part of `make bench`).

Data: the Jining demo plus 40,000 operating institutions, each with an active assignment (cadres of
15 institutions each) and one duty visit in the last 70 days. Measured for a city-wide reader (the
demo `city_office`, whose scope holds all of them) and a supervision-group leader (four counties):

- baseline: the scoped count of operating institutions (`for_user(...).filter(status=…).count()`),
  the cheapest figure a dashboard shows;
- the dashboard coverage figures (`coverage_figures`: % with a cadre, % visited this month, per county);
- the overdue visits as the home page reads them: how many, and the ten longest overdue;
- the 一行一册 ledger of one sector (elderly care) over the whole scope.

Runs on a throw-away SQLite file, or on DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import datetime as dt
import os

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

INSTITUTIONS = int(os.environ.get("BENCH_INSTITUTIONS", "40000"))
PER_CADRE = 15
REPEAT = 7


def timed(fn, repeat: int = REPEAT) -> float:  # type: ignore[no-untyped-def]
    return _django.timed(fn, repeat)


def main() -> None:
    print(f"database: {connection.vendor}")
    _django.load_demo()

    from minan.accounts.models import RoleGrant, User, UserScope
    from minan.duty import selectors
    from minan.duty.models import DutyAssignment, DutyVisit
    from minan.institutions.models import Institution
    from minan.regions.models import Region

    today = timezone.localdate()
    towns = list(Region.objects.filter(level="township").order_by("code"))
    kinds = ["elderly_care", "child_welfare", "funeral"]
    Institution.objects.bulk_create(
        [
            Institution(
                name=f"基准机构{i:06d}",
                kind=kinds[i % 3],
                region=towns[i % len(towns)],
                region_path=towns[i % len(towns)].region_path,
            )  # fmt: skip
            for i in range(INSTITUTIONS)
        ],
        batch_size=2000,
    )
    new = list(Institution.objects.filter(name__startswith="基准机构").order_by("pk"))
    cadres = User.objects.bulk_create(
        [
            User(
                username=f"bench_cadre{n}",
                display_name=f"基准干部{n}",
                region=towns[0],
                region_path=towns[0].region_path,
            )  # fmt: skip
            for n in range(len(new) // PER_CADRE + 1)
        ]
    )
    RoleGrant.objects.bulk_create([RoleGrant(user=c, role="cadre") for c in cadres])
    start = today - dt.timedelta(days=120)
    assignments = DutyAssignment.objects.bulk_create(
        [
            DutyAssignment(
                institution=inst,
                cadre=cadres[i // PER_CADRE],
                starts_on=start,
                region_path=inst.region_path,
                last_visit_on=today - dt.timedelta(days=i % 70),  # the rollup record_visit keeps
            )
            for i, inst in enumerate(new)
        ],
        batch_size=2000,
    )
    UserScope.objects.bulk_create(
        [UserScope(user_id=a.cadre_id, institution_id=a.institution_id, source="duty") for a in assignments],
        batch_size=2000,
    )
    DutyVisit.objects.bulk_create(
        [
            DutyVisit(
                institution_id=a.institution_id,
                cadre_id=a.cadre_id,
                visited_on=today - dt.timedelta(days=i % 70),
                checked="基准",
                region_path=a.region_path,
            )  # fmt: skip
            for i, a in enumerate(assignments)
        ],
        batch_size=2000,
    )
    print(
        f"institutions: {Institution.objects.count()}, active assignments: "
        f"{DutyAssignment.objects.filter(active=True).count()}, visits: {DutyVisit.objects.count()}"
    )
    for username in ("city_office", "supervisor"):
        user = User.objects.get(username=username)

        def fresh(user: User = user) -> User:
            user.__dict__.pop("_scope_entries", None)
            user.__dict__.pop("_perm_cache", None)
            return user

        def baseline() -> None:
            Institution.objects.for_user(fresh()).filter(status=Institution.Status.OPERATING).count()

        base = timed(baseline)
        cover = timed(lambda: selectors.coverage_figures(fresh()))

        def home_overdue() -> None:  # what the home page shows: how many, and the ten longest overdue
            rows = selectors.overdue_assignments(fresh())
            rows.count()
            selectors.visit_schedule(rows[:10])

        overdue = timed(home_overdue)
        n_overdue = selectors.overdue_assignments(fresh()).count()
        operating = Institution.objects.for_user(fresh()).filter(status=Institution.Status.OPERATING).count()
        print(
            f"{username} ({operating} operating): baseline count {base * 1000:.1f} ms; "
            f"coverage figures {cover * 1000:.1f} ms (ratio {cover / base:.1f}); "
            f"overdue count + first 10 {overdue * 1000:.1f} ms (ratio {overdue / base:.1f}, {n_overdue} overdue)"
        )
    office = User.objects.get(username="city_office")
    rows = len(selectors.ledger(office, "elderly_care"))
    ledger = timed(lambda: selectors.ledger(office, "elderly_care"), repeat=3)
    print(f"ledger, elderly care, whole scope: {rows} rows in {ledger * 1000:.0f} ms")


if __name__ == "__main__":
    main()
