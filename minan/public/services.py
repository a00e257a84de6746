"""The public app's writes: counting scans of the public codes without a database write per scan (folded
into daily rows), and a per-address rate limit.

A scan of a valid code increments a counter in the cache, keyed by a five-minute time bucket and the
institution. `flush()` folds the counters of closed buckets into `ScanDaily` (one row per institution
and day). It is claim-based: the last folded bucket is kept in the `ScanFlush` row, and moving that
mark forward and adding the counts commit together, so re-running a flush or running it in several
workers at once never counts a bucket twice.

Where the counters live decides who flushes:

- a shared cache (Redis, with `REDIS_URL`): the worker's periodic task (`tasks.flush_scans`) folds
  every web process's counters;
- the per-process memory cache (no `REDIS_URL`): only the web process that counted can see its
  counters, so it folds them itself, at most once per bucket, on the first scan after a bucket
  closes. What a process counted since its last fold is lost when it stops.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from minan.institutions.models import Institution, ScanDaily, ScanFlush

log = logging.getLogger(__name__)

BUCKET_SECONDS = 300
COUNTER_TTL = 2 * 24 * 3600  # counters not folded within two days are dropped by the cache
MAX_BUCKETS_PER_FLUSH = 24 * 3600 // BUCKET_SECONDS  # catching up after an outage: a day per run
KEYS_PER_READ = 1000

_local_lock = threading.Lock()
_local_mark: int | None = None  # process-local cache: the last bucket this process folded


def bucket_of(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // BUCKET_SECONDS


def day_of(bucket: int) -> dt.date:
    # Buckets are aligned to five minutes, so a bucket never straddles a Beijing midnight.
    return timezone.localdate(dt.datetime.fromtimestamp(bucket * BUCKET_SECONDS, tz=dt.UTC))


def counter_key(bucket: int, institution_id: int) -> str:
    return f"minan:scan:{bucket}:{institution_id}"


def _increment(key: str, timeout: int) -> int | None:
    """The counter after adding one; None when the cache cannot be reached (the page is served anyway:
    an unreachable Redis must not take the public codes down)."""
    try:
        try:
            return int(cache.incr(key))
        except ValueError:  # no counter yet
            if cache.add(key, 1, timeout):
                return 1
            return int(cache.incr(key))
    except Exception:
        log.warning("cache unreachable: %s not counted", key, exc_info=True)
        return None


def process_local() -> bool:
    """True when each process has its own cache (the counters are invisible to the worker)."""
    return isinstance(caches["default"], LocMemCache)


# --- rate limit -------------------------------------------------------------------------------------------------


def allow(address: str | None, *, now: float | None = None) -> bool:
    """False once `address` made more than PUBLIC_RATE_PER_MINUTE requests in this clock minute.

    Per process with the memory cache, shared with Redis. 0 turns the limit off."""
    limit = int(settings.PUBLIC_RATE_PER_MINUTE)
    if limit <= 0:
        return True
    minute = int(time.time() if now is None else now) // 60
    made = _increment(f"minan:public-rate:{minute}:{address or '-'}", 120)
    return made is None or made <= limit


# --- counting and folding ------------------------------------------------------------------------------------


def record(institution_id: int, *, now: dt.datetime | None = None) -> None:
    """Count one scan of a valid code (cache only; with the memory cache, fold closed buckets first)."""
    current = bucket_of(now or timezone.now())
    if process_local():
        _maybe_flush_local(current)
    _increment(counter_key(current, institution_id), COUNTER_TTL)


def _read(
    buckets: Iterable[int], institution_ids: list[int]
) -> tuple[dict[tuple[int, dt.date], int], list[str]]:
    """The counters of these buckets summed per (institution, day), and the keys that held them."""
    totals: dict[tuple[int, dt.date], int] = defaultdict(int)
    keys: list[str] = []
    for bucket in buckets:
        day = day_of(bucket)
        for start in range(0, len(institution_ids), KEYS_PER_READ):
            chunk = institution_ids[start : start + KEYS_PER_READ]
            found = cache.get_many([counter_key(bucket, pk) for pk in chunk])
            for key, count in found.items():
                if int(count or 0) > 0:
                    totals[(int(key.rsplit(":", 1)[1]), day)] += int(count)
                    keys.append(key)
    return totals, keys


def _add(totals: dict[tuple[int, dt.date], int]) -> int:
    for (institution_id, day), count in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0])):
        updated = ScanDaily.objects.filter(institution_id=institution_id, day=day).update(
            count=F("count") + count
        )
        if not updated:
            ScanDaily.objects.create(institution_id=institution_id, day=day, count=count)
    return sum(totals.values())


def _range(mark: int, last_closed: int) -> range:
    start = max(mark + 1, last_closed - COUNTER_TTL // BUCKET_SECONDS)  # older counters are gone
    return range(start, min(last_closed, start + MAX_BUCKETS_PER_FLUSH - 1) + 1)


def flush(*, now: dt.datetime | None = None) -> int:
    """Fold the counters of every closed bucket (the current and the previous one may still be counted
    into) into ScanDaily. Returns the number of scans folded; 0 when another worker got there first."""
    last_closed = bucket_of(now or timezone.now()) - 2
    if process_local():
        with _local_lock:
            return _flush_local(last_closed)
    institution_ids = list(Institution.objects.order_by("pk").values_list("pk", flat=True))
    mark, _created = ScanFlush.objects.get_or_create(
        pk=1, defaults={"through": last_closed - MAX_BUCKETS_PER_FLUSH}
    )
    buckets = _range(mark.through, last_closed)
    if not buckets:
        return 0
    totals, keys = _read(buckets, institution_ids)  # closed buckets no longer change
    with transaction.atomic():
        # The claim: only the flush that moves the mark from where it read it adds these counts.
        if not ScanFlush.objects.filter(pk=1, through=mark.through).update(through=buckets[-1]):
            return 0
        folded = _add(totals)
    cache.delete_many(keys)  # folded for good: the mark has moved past them
    return folded


def _flush_local(last_closed: int) -> int:
    global _local_mark
    if _local_mark is None:
        _local_mark = last_closed  # this process counted nothing before it first looked
        return 0
    buckets = _range(_local_mark, last_closed)
    if not buckets:
        return 0
    institution_ids = list(Institution.objects.order_by("pk").values_list("pk", flat=True))
    totals, keys = _read(buckets, institution_ids)
    with transaction.atomic():
        ScanFlush.objects.get_or_create(pk=1)
        # Several web processes fold their own counters: the row lock makes them take turns.
        ScanFlush.objects.select_for_update().filter(pk=1).exists()
        folded = _add(totals)
    cache.delete_many(keys)
    _local_mark = buckets[-1]
    return folded


def _maybe_flush_local(current: int) -> None:
    if _local_mark is not None and _local_mark >= current - 2:
        return  # nothing closed since the last fold: no query at all
    with _local_lock:
        _flush_local(current - 2)


def reset_local() -> None:
    """Forget this process's fold mark (tests start each case from a clean cache)."""
    global _local_mark
    _local_mark = None
