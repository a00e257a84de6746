"""Simulated GB/T 26875.3 transmission devices (used by `minan simulate`; no Django).

`run_gb_devices` opens one TCP connection per distinct address and sends, at about `rate` frames per
second in total, mostly heartbeats and now and then a fire alarm, a fault, a restore (system reset)
or an analog reading, each to a random registered component of a random address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from typing import Any

from minan.firewatch.ingest import gb26875 as gb
from minan.firewatch.ingest.gb_client import GbDevice

log = logging.getLogger("minan.simulate.gb")

# MinAn device type -> GB component type, for the type-2 frames of a component
COMPONENT_TYPES = {
    "smoke": 42, "heat": 31, "call_point": 23, "panel": 1, "electrical": 16, "gas": 11,
    "water_pressure": 99, "water_level": 92, "gas_valve": 106, "transmitter": 0, "other": 0,
}  # fmt: skip
# device types that report an analog value now and then: (analog type, low, high raw values)
READINGS = {"water_pressure": (4, 2, 8), "water_level": (2, 150, 400), "electrical": (9, 0, 300)}
MAX_IN_FLIGHT = 1000


def _parts(component: str) -> list[int]:
    return [int(p) for p in component.split(":")] if component else []


async def run_gb_devices(
    devices: list[dict[str, Any]],
    host: str,
    port: int,
    *,
    rate: float,
    duration: float | None,
    fire_probability: float,
    stop: asyncio.Event | None = None,
    fire_now: bool = False,
) -> dict[str, int]:
    """Simulate the devices (dicts with `address`, `component` key as in `gb_server.component_key`
    and `kind`, the MinAn device type) until `duration` seconds have passed or `stop` is set;
    `fire_now`: the first frame of a transmission device with a smoke detector is that detector's fire.
    Returns counts: sent, confirmed, denied, failed (no reply or connection lost), connections."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    by_address: dict[int, list[dict[str, Any]]] = {}
    for device in devices:
        by_address.setdefault(int(device["address"]), []).append(device)
    counts: Counter[str] = Counter(sent=0, confirmed=0, denied=0, failed=0, connections=0)
    if not by_address:
        return dict(counts)
    rng = random.Random()  # noqa: S311 (simulation)
    clients: dict[int, GbDevice] = {}
    limit = asyncio.Semaphore(200)

    async def open_one(address: int) -> None:
        client = GbDevice(host, port, address)
        async with limit:
            try:
                await client.connect()
            except OSError as exc:
                log.warning("device %d could not connect: %s", address, exc)
                counts["failed"] += 1
                return
        clients[address] = client
        counts["connections"] += 1

    await asyncio.gather(*(open_one(a) for a in by_address))
    if not clients:
        return dict(counts)

    alarmed: set[tuple[int, int, int]] = set()  # (address, system type, system address) with a fire
    in_flight: set[asyncio.Task[None]] = set()
    window = asyncio.Semaphore(MAX_IN_FLIGHT)

    first_fire = [fire_now]

    def frame_for(address: int, client: GbDevice) -> gb.Frame:
        device = rng.choice(by_address[address])
        roll = rng.random()
        if first_fire[0]:  # --fire-now: the first frame of a device with a smoke detector is its fire
            smoke = [d for d in by_address[address]
                     if d.get("kind") == "smoke" and len(_parts(str(d.get("component", "")))) >= 3]  # fmt: skip
            if smoke:
                first_fire[0], device, roll = False, rng.choice(smoke), -1.0  # below any probability: a fire
        parts = _parts(str(device.get("component", "")))
        kind = str(device.get("kind", ""))
        serial, now = client.next_serial(), client.now()
        if roll < fire_probability:
            if len(parts) >= 3:
                alarmed.add((address, parts[0], parts[1]))
                return gb.component_status_frame(
                    serial, address, client.centre, now, parts[0], parts[1], COMPONENT_TYPES.get(kind, 0),
                    parts[2], {"normal", "fire"},
                )  # fmt: skip
            if len(parts) == 2:
                alarmed.add((address, parts[0], parts[1]))
                return gb.system_status_frame(serial, address, client.centre, now, parts[0], parts[1],
                                              {"normal", "fire"})  # fmt: skip
            return gb.device_status_frame(serial, address, client.centre, now, {"normal", "fire"})
        if roll < 2 * fire_probability:
            if len(parts) >= 3:
                return gb.component_status_frame(
                    serial, address, client.centre, now, parts[0], parts[1], COMPONENT_TYPES.get(kind, 0),
                    parts[2], {"normal", "fault"},
                )  # fmt: skip
            return gb.device_status_frame(serial, address, client.centre, now, {"normal", "main_power_fault"})
        if roll < 3 * fire_probability:
            mine = [a for a in alarmed if a[0] == address]
            if mine:
                _a, system_type, system_address = rng.choice(mine)
                alarmed.discard((address, system_type, system_address))
                return gb.system_status_frame(serial, address, client.centre, now, system_type, system_address,
                                              {"normal", "reset"})  # fmt: skip
        if kind in READINGS and len(parts) >= 3 and roll < 0.1:
            analog_type, low, high = READINGS[kind]
            return gb.analog_frame(serial, address, client.centre, now, parts[0], parts[1],
                                   COMPONENT_TYPES.get(kind, 0), parts[2], analog_type, rng.randint(low, high))  # fmt: skip
        return gb.heartbeat_frame(serial, address, client.centre, now)

    async def send_one(address: int, client: GbDevice, frame: gb.Frame) -> None:
        try:
            reply = await client.send(frame)
        except (TimeoutError, ConnectionError, OSError):
            counts["failed"] += 1
        else:
            counts["confirmed" if reply.command == gb.Command.CONFIRM else "denied"] += 1
        finally:
            window.release()

    loop = asyncio.get_running_loop()
    started = loop.time()
    next_at = started
    interval = 1.0 / rate
    addresses = list(clients)
    try:
        while not (stop is not None and stop.is_set()):
            if duration is not None and loop.time() - started >= duration:
                break
            address = rng.choice(addresses)
            client = clients[address]
            if not client.connected:
                with contextlib.suppress(OSError):
                    await client.close()
                    await client.connect()
            if client.connected:
                await window.acquire()
                counts["sent"] += 1
                task = loop.create_task(send_one(address, client, frame_for(address, client)))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            next_at += interval
            delay = next_at - loop.time()
            if delay > 0:
                if stop is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
        if in_flight:
            await asyncio.wait(in_flight, timeout=15)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
    return dict(counts)
