"""Runs the GB/T 26875.3 server alone for bench/gb_connections_bench.py (one process, like `minan ingest`).

Usage: python bench/_gb_serve.py HOST:PORT — Django on the database of the environment (MINAN_VAR_DIR
or DATABASE_URL, as set by the benchmark). Prints "READY <port>" once listening; on SIGTERM it stops
and prints "STATS <json>" with the server's counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import sys

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()


def raise_nofile(wanted: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def main(listen: str) -> None:
    from minan.firewatch.ingest import gb_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers: list[gb_server.GbServer] = []
    await gb_server.serve(
        listen, stop, on_ready=lambda port: print(f"READY {port}", flush=True), on_server=servers.append
    )
    print("STATS " + json.dumps(servers[0].stats.as_dict()), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="server: %(name)s %(message)s")
    limits = raise_nofile(int(sys.argv[2]) if len(sys.argv) > 2 else 65536)
    print(f"LIMIT {limits[0]} {limits[1]}", flush=True)
    asyncio.run(main(sys.argv[1]))
