"""Foundation benchmarks (`make bench`). Figures are ratios against a baseline measured in the same run.

1. Scoped read: a county officer's page of institutions and count through `for_user()`, against the
   same query written by hand (`region_path LIKE …`). The ratio is the mechanism's overhead.
2. Audit write: `audit.services.record()` (hash chain, head lock) against a plain INSERT of a row of
   the same table shape. The ratio is what tamper evidence costs per write.

Runs on a throw-away SQLite file, or on DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import os
import time

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

INSTITUTIONS = int(os.environ.get("BENCH_INSTITUTIONS", "40000"))  # national scale
AUDIT_WRITES = int(os.environ.get("BENCH_AUDIT_WRITES", "2000"))
REPEAT = 30


def timed(fn, repeat: int = REPEAT) -> float:  # type: ignore[no-untyped-def]
    return _django.timed(fn, repeat)


def main() -> None:
    if "postgresql" in connection.vendor:
        name = f"minan_bench_{os.getpid()}"
        print(f"database: PostgreSQL ({name})")
    else:
        print(f"database: SQLite file in {os.environ['MINAN_VAR_DIR']}")
    _django.load_demo()

    from minan.accounts.models import User
    from minan.core.audit.models import AuditEvent
    from minan.core.audit.services import record
    from minan.institutions.models import Institution
    from minan.regions.models import Region

    towns = list(Region.objects.filter(level="township"))
    kinds = ["elderly_care", "child_welfare", "funeral"]
    Institution.objects.bulk_create(
        [
            Institution(
                name=f"基准机构{i:06d}",
                kind=kinds[i % 3],
                region=towns[i % len(towns)],
                region_path=towns[i % len(towns)].region_path,
            )
            for i in range(INSTITUTIONS)
        ],
        batch_size=2000,
    )
    officer = User.objects.get(username="rencheng")
    prefix = "370000/370800/370811/"
    print(
        f"institutions: {Institution.objects.count()}, in 任城区: "
        f"{Institution.objects.filter(region_path__startswith=prefix).count()}"
    )

    def scoped() -> None:
        officer.__dict__.pop("_scope_entries", None)
        officer.__dict__.pop("_perm_cache", None)
        qs = Institution.objects.for_user(officer).order_by("region_path", "name")
        qs.count()
        list(qs[:50])

    def by_hand() -> None:
        qs = Institution.objects.filter(region_path__startswith=prefix).order_by("region_path", "name")
        qs.count()
        list(qs[:50])

    base = timed(by_hand)
    mech = timed(scoped)
    print(
        f"scoped read (count + first page of 50): by hand {base * 1000:.2f} ms, for_user {mech * 1000:.2f} ms, "
        f"ratio {mech / base:.2f}"
    )

    def plain_inserts() -> None:
        # Baseline: the same row, one transaction per write, no chain.
        for i in range(AUDIT_WRITES // 10):
            with transaction.atomic():
                AuditEvent.objects.bulk_create(
                    [
                        AuditEvent(
                            at=timezone.now(),
                            action="bench.plain",
                            prev_hash="0" * 64,
                            hash=f"plain-{time.perf_counter_ns()}-{i}",
                        )
                    ]
                )

    def chained() -> None:
        for i in range(AUDIT_WRITES // 10):
            record("bench.chained", object_type="bench", object_id=i, username="bench")

    base_w = timed(plain_inserts, repeat=10) / (AUDIT_WRITES // 10)
    chain_w = timed(chained, repeat=10) / (AUDIT_WRITES // 10)
    print(
        f"audit write: plain insert {base_w * 1e6:.0f} µs, record() {chain_w * 1e6:.0f} µs, "
        f"ratio {chain_w / base_w:.2f} ({1 / chain_w:.0f} chained writes/s, one writer)"
    )
    from minan.core.audit.chain import verify_chain

    # The baseline rows are not part of the chain; remove them before verifying.
    plain = AuditEvent.objects.filter(action="bench.plain")
    plain._raw_delete(plain.db)

    start = time.perf_counter()
    result = verify_chain()
    elapsed = time.perf_counter() - start
    print(
        f"audit verify: {result.checked} rows in {elapsed:.2f} s ({result.checked / elapsed:.0f} rows/s), ok={result.ok}"
    )


if __name__ == "__main__":
    main()
