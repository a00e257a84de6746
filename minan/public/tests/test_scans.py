"""Public-code scans: invalid tokens write nothing, valid ones are counted without a
database write per request and folded exactly once into daily rows, and each client address is
rate-limited."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from minan.institutions.models import Institution, ScanDaily, ScanFlush
from minan.public import services as scans
from minan.public.tasks import flush_scans

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 2, 1, tzinfo=dt.UTC)  # 10:01 in Beijing
_cache_names = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Any:
    """Each test its own memory cache (counters and rate-limit counts) and a process that folded nothing."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"scans-{next(_cache_names)}",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    scans.reset_local()
    yield
    scans.reset_local()


@pytest.fixture
def shared_cache(settings: Any, tmp_path: Path) -> None:
    """A cache every process would see (file-based here, Redis in production): the worker folds."""
    # (Its incr rewrites the entry with the default timeout: none here, as Redis keeps a key's expiry.)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
            "TIMEOUT": None,
        }
    }


def url(token: str) -> str:
    return f"/p/{token}/"


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]


def counted() -> dict[tuple[int, dt.date], int]:
    return {(row.institution_id, row.day): row.count for row in ScanDaily.objects.all()}


def later(minutes: int = 15) -> dt.datetime:
    return NOW + dt.timedelta(minutes=minutes)


def fold(moment: dt.datetime) -> int:
    """A flush run at `moment` (the cache's expiry follows the same clock)."""
    with time_machine.travel(moment, tick=False):
        return scans.flush()


def test_a_thousand_invalid_tokens_write_nothing(client: Any, institutions: dict[str, Any]) -> None:
    closed, revoked = institutions["zc_child"], institutions["rc_funeral"]
    Institution.objects.filter(pk=closed.pk).update(status=Institution.Status.CLOSED)
    Institution.objects.filter(pk=revoked.pk).update(public_code_active=False)
    tokens = [f"no-such-token-{i}" for i in range(994)] + [
        closed.public_token, revoked.public_token, "A" * 100, "../etc/passwd", str(closed.pk), "%3Cscript%3E",
    ]  # fmt: skip
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        statuses = {
            client.get(url(token), REMOTE_ADDR=f"10.0.{i // 250}.{i % 250}").status_code
            for i, token in enumerate(tokens)
        }
    assert len(tokens) == 1000 and statuses == {404}
    assert writes(queries) == []
    assert fold(later()) == 0
    assert not ScanDaily.objects.exists()


def test_valid_scans_do_no_write_per_request_and_are_folded_exactly(
    client: Any, institutions: dict[str, Any]
) -> None:
    home, other = institutions["rc_elderly"], institutions["zc_elderly"]
    with time_machine.travel(NOW, tick=False):
        with CaptureQueriesContext(connection) as queries:
            for i in range(25):
                assert client.get(url(home.public_token), REMOTE_ADDR=f"10.1.0.{i}").status_code == 200
            for i in range(7):
                assert client.get(url(other.public_token), REMOTE_ADDR=f"10.2.0.{i}").status_code == 200
        assert writes(queries) == []
        assert queries.captured_queries  # reads only: the token's institution and its region names
        assert not ScanDaily.objects.exists()
    assert fold(NOW) == 0  # the buckets are still open: nothing folded yet
    assert fold(later()) == 32
    today = dt.date(2026, 11, 30)
    assert counted() == {(home.pk, today): 25, (other.pk, today): 7}
    assert fold(later()) == 0 and fold(later(60)) == 0  # idempotent
    assert counted() == {(home.pk, today): 25, (other.pk, today): 7}


def test_scans_fold_into_the_beijing_day(client: Any, institutions: dict[str, Any]) -> None:
    home = institutions["rc_elderly"]
    before_midnight = dt.datetime(2026, 11, 30, 15, 58, tzinfo=dt.UTC)  # 23:58 in Beijing
    for moment, n in ((before_midnight, 3), (before_midnight + dt.timedelta(minutes=4), 2)):
        with time_machine.travel(moment, tick=False):
            for i in range(n):
                assert client.get(url(home.public_token), REMOTE_ADDR=f"10.3.0.{i}").status_code == 200
    fold(before_midnight + dt.timedelta(minutes=30))
    assert counted() == {(home.pk, dt.date(2026, 11, 30)): 3, (home.pk, dt.date(2026, 12, 1)): 2}


def test_with_the_memory_cache_the_web_process_folds_its_own_counters(
    client: Any, institutions: dict[str, Any]
) -> None:
    """No REDIS_URL: the worker cannot see a web process's counters, so the first scan after a bucket closes
    folds them (one write batch every few minutes, not one per scan)."""
    home = institutions["rc_elderly"]
    with time_machine.travel(NOW, tick=False):
        for i in range(4):
            client.get(url(home.public_token), REMOTE_ADDR=f"10.4.0.{i}")
    with time_machine.travel(later(3), tick=False), CaptureQueriesContext(connection) as queries:
        client.get(url(home.public_token), REMOTE_ADDR="10.4.1.1")  # the first bucket is not closed yet
    assert writes(queries) == [] and not ScanDaily.objects.exists()
    with time_machine.travel(later(12), tick=False), CaptureQueriesContext(connection) as queries:
        assert client.get(url(home.public_token), REMOTE_ADDR="10.4.1.2").status_code == 200
    assert writes(queries) != []
    assert counted() == {(home.pk, dt.date(2026, 11, 30)): 5}
    assert fold(later(30)) == 1  # the scan at +12 minutes
    assert counted() == {(home.pk, dt.date(2026, 11, 30)): 6}


def test_the_rate_limit_answers_429_per_address_and_does_not_count(
    client: Any, institutions: dict[str, Any], settings: Any
) -> None:
    settings.PUBLIC_RATE_PER_MINUTE = 5
    home = institutions["rc_elderly"]
    with time_machine.travel(NOW, tick=False):
        answers = [client.get(url(home.public_token), REMOTE_ADDR="10.9.9.9").status_code for _ in range(5)]
        assert answers == [200] * 5
        refused = client.get(url(home.public_token), REMOTE_ADDR="10.9.9.9")
        assert refused.status_code == 429 and refused["Retry-After"] == "60"
        assert "请求过于频繁" in refused.content.decode() and home.name not in refused.content.decode()
        # Invalid tokens count against the address too; a second address is still served.
        assert client.get(url("no-such-token"), REMOTE_ADDR="10.9.9.9").status_code == 429
        assert client.get(url(home.public_token), REMOTE_ADDR="10.9.9.10").status_code == 200
    with time_machine.travel(NOW + dt.timedelta(seconds=60), tick=False):  # the next minute
        assert client.get(url(home.public_token), REMOTE_ADDR="10.9.9.9").status_code == 200
    fold(later())
    assert counted() == {(home.pk, dt.date(2026, 11, 30)): 7}  # 5 + 1 + 1: no refused request counted


def test_with_a_shared_cache_the_worker_task_folds_and_a_bucket_is_folded_once(
    client: Any, institutions: dict[str, Any], shared_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = institutions["rc_elderly"]
    assert not scans.process_local()
    with time_machine.travel(NOW, tick=False):
        for i in range(9):
            assert client.get(url(home.public_token), REMOTE_ADDR=f"10.5.0.{i}").status_code == 200
    assert not ScanDaily.objects.exists()  # the web process never folds a shared cache

    # Two workers at once: the second read the mark before the first moved it, so its claim fails.
    real_read = scans._read
    raced: list[int] = []

    def read_then_lose_the_race(*args: Any) -> Any:
        found = real_read(*args)
        if not raced:
            raced.append(-1)
            raced[0] = fold(later())  # the other worker folds first
        return found

    monkeypatch.setattr(scans, "_read", read_then_lose_the_race)
    with time_machine.travel(later(), tick=False):
        assert flush_scans.call_local() == 0
    assert raced == [9]
    assert counted() == {(home.pk, dt.date(2026, 11, 30)): 9}
    assert ScanFlush.objects.get().through == scans.bucket_of(later()) - 2
    monkeypatch.setattr(scans, "_read", real_read)
    with time_machine.travel(later(), tick=False):
        assert flush_scans.call_local() == 0  # run again: nothing new
    assert ScanDaily.objects.aggregate(n=Sum("count"))["n"] == 9


def test_an_unreachable_cache_does_not_take_the_public_page_down(
    client: Any, institutions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import caches

    backend = caches["default"]

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    monkeypatch.setattr(backend, "incr", down)
    monkeypatch.setattr(backend, "add", down)
    home = institutions["rc_elderly"]
    with time_machine.travel(NOW, tick=False):
        assert client.get(url(home.public_token), REMOTE_ADDR="10.6.0.1").status_code == 200
        assert client.get(url("no-such-token"), REMOTE_ADDR="10.6.0.1").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_migration_folds_the_old_scan_rows_into_daily_counts(institutions: dict[str, Any]) -> None:
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("institutions", "0005_policy_expiry_reminder")], [("institutions", "0006_scan_daily")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        CodeScan = old.get_model("institutions", "CodeScan")
        home, other = institutions["rc_elderly"].pk, institutions["zc_elderly"].pk
        rows = [
            (home, True, dt.datetime(2026, 11, 29, 15, 59, tzinfo=dt.UTC)),  # 23:59 Beijing, 29 Nov
            (home, True, dt.datetime(2026, 11, 29, 16, 1, tzinfo=dt.UTC)),  # 00:01 Beijing, 30 Nov
            (home, True, dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)),
            (home, False, dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)),  # revoked: not counted
            (None, False, dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)),  # unknown token
            (other, True, dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)),
        ]
        for institution_id, resolved, at in rows:
            scan = CodeScan.objects.create(institution_id=institution_id, token="t", resolved=resolved)
            CodeScan.objects.filter(pk=scan.pk).update(at=at)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    assert counted() == {
        (home, dt.date(2026, 11, 29)): 1,
        (home, dt.date(2026, 11, 30)): 2,
        (other, dt.date(2026, 11, 30)): 1,
    }
