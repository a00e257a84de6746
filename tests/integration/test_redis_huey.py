"""Huey on a real Redis: tasks and results round-trip through the broker, and settings pick RedisHuey.

Needs REDIS_URL (CI uses redis://127.0.0.1:6379/15). Each test uses its own queue name and deletes
its keys afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_url() -> str:
    # tests/conftest.py skips (or, under CI, fails) this module when REDIS_URL is unset.
    return os.environ["REDIS_URL"]


@pytest.fixture
def redis_huey(redis_url: str) -> Iterator[Any]:
    from huey import RedisHuey

    huey = RedisHuey(name=f"minan-test-{uuid.uuid4().hex[:12]}", url=redis_url, immediate=False)
    huey.storage.conn.ping()  # a clear error here if Redis does not answer
    try:
        yield huey
    finally:
        huey.storage.flush_all()
        leftover = huey.storage.conn.keys(f"huey.*.{huey.storage.name}*")
        assert not leftover, f"Redis keys left behind: {leftover}"


def test_task_and_result_round_trip_through_redis(redis_huey: Any) -> None:
    @redis_huey.task()
    def add(a: int, b: int) -> dict[str, Any]:
        return {"sum": a + b, "text": "民安"}

    result = add(20, 22)
    assert redis_huey.pending_count() == 1  # really queued in Redis, not run in-process

    task = redis_huey.dequeue()
    assert task is not None and task.id == result.id
    redis_huey.execute(task)

    assert result.get() == {"sum": 42, "text": "民安"}
    assert redis_huey.pending_count() == 0


def test_a_real_consumer_runs_the_task(redis_huey: Any, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"

    @redis_huey.task()
    def write(path: str, text: str) -> int:
        return Path(path).write_text(text, encoding="utf-8")

    consumer = redis_huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    # Consumer.start() installs its own SIGINT/SIGTERM/SIGHUP handlers; give pytest its own back.
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer.start()
    try:
        result = write(str(target), "巡查记录")
        written = result.get(blocking=True, timeout=20)
    finally:
        consumer.stop(graceful=True)
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    assert written == len("巡查记录")
    assert target.read_text(encoding="utf-8") == "巡查记录"


def test_settings_choose_redis_huey_when_redis_url_is_set(redis_url: str) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from huey.contrib.djhuey import HUEY\n"
        "print(settings.HUEY['huey_class']); print(settings.HUEY['url']); print(type(HUEY).__name__)\n"
    )
    env = {
        **os.environ,
        "MINAN_ENV": "test",
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "minan.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["huey.RedisHuey", redis_url, "RedisHuey"]
