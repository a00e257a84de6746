"""GB/T 26875.3 server with 5,000 concurrent device connections (`python bench/gb_connections_bench.py`).

Data: 20 institutions with 5,000 registered transmission devices (gb_address 100000…), so every
heartbeat goes through the Recorder and the database like in production. The server runs in its own
process (bench/_gb_serve.py: `gb_server.serve`, as `minan ingest` runs it); this process plays the
devices with `gb_client.GbDevice`:

- baseline: one device alone sends heartbeats one after another — the reply latency of an idle server;
- load: 5,000 connections opened and held; each sends a heartbeat every 30 s from a random offset
  (BENCH_GB_SECONDS, default 70 s: 2–3 heartbeats each, about 170 frames/s in total) and waits for
  the confirm; the server also syncs each device's clock after its first frame (confirmed by the
  client). Measured: connections held at the end, confirms received / heartbeats sent, reply latency
  p50/p99 (ratio to the baseline), server RSS per connection (VmRSS from /proc before the connections
  and at the peak), and the devices the database shows online.

Needs RLIMIT_NOFILE above the connection count in both processes (raised up to the hard limit).
Runs on a throw-away SQLite file, or on DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()

from django.db import connection  # noqa: E402

CONNECTIONS = int(os.environ.get("BENCH_GB_CONNECTIONS", "5000"))
SECONDS = float(os.environ.get("BENCH_GB_SECONDS", "70"))
INTERVAL = float(os.environ.get("BENCH_GB_INTERVAL", "30"))
BASELINE_FRAMES = 300
BASE_ADDRESS = 100_000
CONNECT_CONCURRENCY = 500
HERE = Path(__file__).resolve().parent


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def setup_devices() -> None:
    """Migrate, one county with a few institutions (the devices' owners; the demo is not needed), the
    devices."""
    from django.core.management import call_command

    from minan.firewatch.models import Device
    from minan.institutions.models import Institution
    from minan.regions.models import Region

    call_command("migrate", verbosity=0)
    parent = None
    for code, name, level in [("370000", "山东省", "province"), ("370800", "济宁市", "city"),
                              ("370811", "任城区", "county")]:  # fmt: skip
        path = (parent.region_path if parent else "") + code + "/"
        parent = Region.objects.create(code=code, name=name, level=level, parent=parent, region_path=path)
    assert parent is not None
    for n in range(20):
        Institution.objects.create(name=f"基准养老院{n:02d}", kind="elderly_care", region=parent,
                                   region_path=parent.region_path)  # fmt: skip
    homes = list(Institution.objects.values_list("pk", "region_path"))
    Device.objects.bulk_create(
        [
            Device(
                institution_id=homes[i % len(homes)][0],
                region_path=homes[i % len(homes)][1],
                type=Device.Type.TRANSMITTER,
                name=f"传输装置{i:05d}",
                protocol=Device.Protocol.GB26875,
                serial=f"GB-BENCH-{i:05d}",
                gb_address=BASE_ADDRESS + i,
                gb_component="",
                heartbeat_seconds=int(INTERVAL),
                grace_seconds=int(INTERVAL),
            )  # fmt: skip
            for i in range(CONNECTIONS)
        ],
        batch_size=1000,
    )
    connection.close()


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_gb_serve.py"), "127.0.0.1:0", str(CONNECTIONS + 1000)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the server process exited before it was ready")
        if line.startswith("LIMIT "):
            soft = int(line.split()[1])
            if soft < CONNECTIONS + 100:
                print(
                    f"!! server RLIMIT_NOFILE is {soft}: too low for {CONNECTIONS} connections (raise the hard limit)"
                )
        if line.startswith("READY "):
            port = int(line.split()[1])
            break
    if not port:
        proc.kill()
        raise SystemExit("the server did not start within 60 s")
    return proc, port


def stop_server(proc: subprocess.Popen[str]) -> dict[str, int]:
    proc.terminate()
    stats: dict[str, int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("STATS "):
            stats = json.loads(line[6:])
    proc.wait(timeout=30)
    return stats


async def baseline(port: int) -> list[float]:
    from minan.firewatch.ingest.gb_client import GbDevice

    latencies = []
    async with GbDevice("127.0.0.1", port, BASE_ADDRESS) as device:
        await device.heartbeat()  # first contact: device lookup, online flip, clock sync
        for _ in range(BASELINE_FRAMES):
            started = time.perf_counter()
            await device.heartbeat()
            latencies.append(time.perf_counter() - started)
    return latencies


async def load(port: int, pid: int) -> dict[str, object]:
    from minan.firewatch.ingest.gb_client import GbDevice

    rng = random.Random(26875)  # noqa: S311 (benchmark schedule)
    devices = [GbDevice("127.0.0.1", port, BASE_ADDRESS + i, reply_timeout=30) for i in range(CONNECTIONS)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connect_errors: list[str] = []

    async def connect(device: GbDevice) -> None:
        async with gate:
            try:
                await device.connect()
            except OSError as exc:
                connect_errors.append(str(exc))

    started = time.perf_counter()
    await asyncio.gather(*(connect(d) for d in devices))
    connect_seconds = time.perf_counter() - started
    opened = [d for d in devices if d.connected]
    latencies: list[float] = []
    counts = {"sent": 0, "confirmed": 0, "denied": 0, "failed": 0}
    peak = {"rss": rss_kib(pid)}
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def run_device(device: GbDevice) -> None:
        at = begin + rng.uniform(0, INTERVAL)
        while at < begin + SECONDS:
            await asyncio.sleep(max(0.0, at - loop.time()))
            counts["sent"] += 1
            t0 = time.perf_counter()
            try:
                reply = await device.heartbeat()
            except (TimeoutError, ConnectionError, OSError):
                counts["failed"] += 1
            else:
                latencies.append(time.perf_counter() - t0)
                counts["confirmed" if reply.command == 3 else "denied"] += 1
            at += INTERVAL

    async def sample_rss() -> None:
        while True:
            await asyncio.sleep(2)
            peak["rss"] = max(peak["rss"], rss_kib(pid))

    sampler = loop.create_task(sample_rss())
    await asyncio.gather(*(run_device(d) for d in opened))
    sampler.cancel()
    peak["rss"] = max(peak["rss"], rss_kib(pid))
    held = sum(1 for d in opened if d.connected)
    await asyncio.gather(*(d.close() for d in opened), return_exceptions=True)
    return {
        "opened": len(opened),
        "held": held,
        "connect_seconds": connect_seconds,
        "connect_errors": connect_errors[:3],
        "latencies": latencies,
        "peak_rss": peak["rss"],
        **counts,
    }


def main() -> None:
    global CONNECTIONS
    limit = raise_nofile(CONNECTIONS + 1000)
    if limit < CONNECTIONS + 100:
        print(f"!! RLIMIT_NOFILE hard limit is {limit}: too low for {CONNECTIONS} connections; "
              f"running with {limit - 100} (raise it with `ulimit -Hn` / limits.conf)")  # fmt: skip
        CONNECTIONS = max(1, limit - 100)
    print(
        f"database: {connection.vendor}, connections: {CONNECTIONS}, heartbeat every {INTERVAL:.0f} s for {SECONDS:.0f} s"
    )
    setup_devices()

    proc, port = start_server()
    try:
        time.sleep(0.5)
        idle_rss = rss_kib(proc.pid)
        base = asyncio.run(baseline(port))
        idle_rss = max(idle_rss, rss_kib(proc.pid))
        result = asyncio.run(load(port, proc.pid))
    finally:
        stats = stop_server(proc)

    from minan.firewatch.models import Device

    online = Device.objects.filter(gb_address__gte=BASE_ADDRESS, status="online").count()
    lat = result["latencies"]
    assert isinstance(lat, list)
    base_p50, base_p99 = percentile(base, 0.5) * 1000, percentile(base, 0.99) * 1000
    p50, p99 = percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000
    held, opened = int(result["held"]), int(result["opened"])  # type: ignore[call-overload]
    per_conn = (int(result["peak_rss"]) - idle_rss) / max(1, held)  # type: ignore[call-overload]
    sent, confirmed = int(result["sent"]), int(result["confirmed"])  # type: ignore[call-overload]
    print()
    print("GB/T 26875.3 connections benchmark")
    print(
        f"  baseline (1 device, {BASELINE_FRAMES} heartbeats): p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms"
    )
    print(
        f"  connections: {opened}/{CONNECTIONS} opened in {result['connect_seconds']:.1f} s, {held} held at the end"
    )
    if result["connect_errors"]:
        print(f"  connect errors (first): {result['connect_errors']}")
    print(f"  heartbeats: {confirmed}/{sent} confirmed, {result['denied']} denied, {result['failed']} failed")
    print(f"  reply latency under load: p50 {p50:.2f} ms (×{p50 / base_p50:.1f} baseline), "
          f"p99 {p99:.2f} ms (×{p99 / base_p99:.1f})")  # fmt: skip
    print(f"  server RSS: {idle_rss / 1024:.1f} MiB idle, {int(result['peak_rss']) / 1024:.1f} MiB peak "  # type: ignore[call-overload]
          f"→ {per_conn:.1f} KiB per connection")  # fmt: skip
    print(f"  server: {stats.get('frames', 0)} frames, {stats.get('confirms', 0)} confirms, "
          f"{stats.get('recorded', 0)} signals recorded in {stats.get('batches', 0)} batches "
          f"({stats.get('recorded', 0) / max(1, stats.get('batches', 1)):.1f} per batch), "
          f"{stats.get('commands', 0) - stats.get('commands_failed', 0)}/{stats.get('commands', 0)} clock syncs confirmed, "
          f"{stats.get('db_errors', 0)} database errors")  # fmt: skip
    print(f"  database: {online}/{CONNECTIONS} devices online")
    print()
    print(
        "| benchmark | database | connections held | confirms | p50 (baseline) | p99 (baseline) | server RSS / connection |"
    )
    print("|---|---|---|---|---|---|---|")
    print(f"| GB/T 26875.3 connections | {connection.vendor} | {held:,}/{CONNECTIONS:,} | {confirmed:,}/{sent:,} | "
          f"{p50:.1f} ms ({base_p50:.1f} ms) | {p99:.1f} ms ({base_p99:.1f} ms) | {per_conn:.1f} KiB |")  # fmt: skip


if __name__ == "__main__":
    main()
