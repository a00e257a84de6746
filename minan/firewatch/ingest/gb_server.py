"""The GB/T 26875.3 TCP server: the monitoring-centre side.

One asyncio task per connection feeds a `StreamDecoder` (frames split across reads or merged in one,
garbage skipped). Every frame is answered as the standard says:

- command 2 (upload, including the empty-ADU heartbeat): its signals (`gb26875.to_signals`) are
  recorded, then confirmed (command 3, same serial) — only after the database has committed them, so
  a crash or a database outage makes the device retransmit instead of losing an alarm (on a failure
  nothing is sent). A retransmission (same serial, time tag and ADU) gives the same message ids
  and is stored once. An ADU that fails the size check is still confirmed and recorded as a `malformed`
  event. Unknown devices are confirmed too (the frame is valid) and logged at debug level once
  per address and minute.
- command 5 (answer to a read): recorded, not confirmed ("answers are not confirmed");
  `confirm_answers=True` confirms them for device models that expect it.
- commands 3 and 6 from a device: replies to the centre's own commands (matched by serial).
- a frame failing validation (start/end characters, length, checksum, unrecognised command) and
  commands 1 and 4 (which only the centre sends): deny (command 6) with the received serial when the
  header could be read; logged; the connection stays open.

Signals become `Incoming(DeviceKey(gb_address=source, gb_component=key), SignalIn(...))`; the key is
"" for the transmission device, "system_type:system_address" for a system and
"system_type:system_address:component_address" (raw uint32) for a component — `Recorder` resolves the
most specific registered device. Database work runs in one writer thread: frames of all connections
are batched (up to `BATCH_MAX` signals, or what arrived within `BATCH_WAIT` seconds) into one
`Recorder.record` call.

Down: after the first valid frame of an address on a connection the centre syncs its clock (type 90,
standard layout); 查岗 (type 91) every `MINAN_GB26875_DUTY_CHECK_SECONDS` (0 = off), about
`MINAN_GB26875_NIGHT_CHECKS` times a night per device at random minutes of `MINAN_GB26875_NIGHT`
(22:00-06:00; 0 = off), and on demand (`GbServer.send_duty_check`). The centre's commands use its own
serial counter per connection, the
reply timeout (`MINAN_GB26875_REPLY_TIMEOUT`, 10 s) and retries (`MINAN_GB26875_RETRIES`, 3). A connection
silent for `MINAN_GB26875_IDLE_SECONDS` (180 s) is closed; a half frame is dropped after
`PARTIAL_TIMEOUT` seconds without more bytes. A device clock more than `MINAN_GB26875_MAX_SKEW_SECONDS`
(300) away from the server's is not used for signal times (the device time goes into the details).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from datetime import time as dt_time
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from minan.firewatch.devices import services as device_services

from . import gb26875 as gb
from .recorder import DeviceKey, Incoming, Recorder, Result
from .services import SignalIn

log = logging.getLogger("minan.ingest.gb")

IDLE_TIMEOUT = 180.0  # 3 × the longest usual heartbeat expectation (20–30 s, devices vary)
PARTIAL_TIMEOUT = 10.0  # inter-byte timeout for a half-received frame
REPLY_TIMEOUT = 10.0  # not longer than 10 s
RETRIES = 3
BATCH_MAX = 500
BATCH_WAIT = 0.010
STATS_SECONDS = 60.0
UNKNOWN_LOG_SECONDS = 60.0
READ_SIZE = 65536
MAX_SKEW = 300.0  # device clock skew beyond which the server time is used

# GB signal type -> MinAn signal type (services.SIGNAL_TYPES)
SIGNAL_TYPE = {
    "heartbeat": "heartbeat",
    "alarm": "alarm",
    "fault": "fault",
    "restore": "restore",
    "reading": "reading",
    "event": "event",
    "malformed": "event",
}
# details kept with the signal (alarm detail); all JSON-serialisable
EXTRA_KEYS = (
    "severity", "test", "description", "component_type", "component_zone", "component_point", "operator",
    "analog_type", "raw_value", "out_of_range", "adu_type", "raw",
)  # fmt: skip


def _setting(name: str, default: float) -> float:
    """settings.GB26875_<NAME>, else the environment variable MINAN_GB26875_<NAME>, else the default."""
    value = getattr(settings, f"GB26875_{name}", None)
    if value is None:
        value = os.environ.get(f"MINAN_GB26875_{name}", "")
    try:
        return float(value) if value not in ("", None) else default
    except ValueError:
        log.warning("MINAN_GB26875_%s=%r is not a number; using %s", name, value, default)
        return default


def parse_night(text: str) -> tuple[dt_time, dt_time]:
    """ "22:00-06:00" -> (22:00, 06:00): the night in which random duty checks go out."""
    try:
        start, end = (datetime.strptime(part.strip(), "%H:%M").time() for part in text.split("-"))
    except ValueError:
        raise ValueError(f"a night is HH:MM-HH:MM, not {text!r}") from None
    return start, end


def in_night(at: dt_time, night: tuple[dt_time, dt_time]) -> bool:
    start, end = night
    return start <= at < end if start < end else at >= start or at < end


def night_minutes(night: tuple[dt_time, dt_time]) -> int:
    start, end = (t.hour * 60 + t.minute for t in night)
    return (end - start) % (24 * 60) or 24 * 60


def parse_listen(listen: str) -> tuple[str | None, int]:
    """ "host:port" (IPv6 as "[::1]:9800"; an empty host listens on all interfaces)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address must be host:port, not {listen!r}")
    host = host.strip("[]")
    return (host or None), int(port)


def now_local() -> datetime:
    return datetime.now(gb.DEVICE_TZ)


# ---------------------------------------------------------------------------------------------
# Frames -> signals
# ---------------------------------------------------------------------------------------------


def component_key(signal: dict[str, Any]) -> str:
    if "component_address" in signal:
        return f"{signal['system_type']}:{signal['system_address']}:{signal['component_address']}"
    if "system_type" in signal and "system_address" in signal:
        return f"{signal['system_type']}:{signal['system_address']}"
    return ""


def message_id(frame: gb.Frame, index: int) -> str:
    """The same for a retransmission (same source, command, serial, time tag and ADU), so it
    is stored once; the CRC of the ADU tells apart different uploads that reuse a serial and time."""
    if frame.sent_at is not None:
        stamp = frame.sent_at.strftime("%Y%m%dT%H%M%S")
    else:
        stamp = "x" + (frame.raw_time or b"").hex()
    return f"gb:{frame.source}:{frame.command}:{frame.serial}:{stamp}:{zlib.crc32(frame.adu):08x}:{index}"


def to_incoming(
    frame: gb.Frame, *, received_at: datetime | None = None, max_skew: float = MAX_SKEW
) -> list[Incoming]:
    """The frame's signals as the Recorder takes them.

    A device time further than `max_skew` seconds from `received_at` (the server's clock) is not
    used as the signal time — alarms and their escalation would start in the device's past or future
    (SLA timers use the server time); it is kept in the signal's details instead."""
    out: list[Incoming] = []
    for index, sig in enumerate(gb.to_signals(frame)):
        kind = SIGNAL_TYPE[sig["type"]]
        code = str(sig.get("code") or "")
        if sig["type"] == "malformed":
            code = "malformed"
        elif kind == "restore":
            code = "reset"  # reset and 警情消除 both clear the device's open alarms
        value = sig.get("value")
        extra = {k: sig[k] for k in EXTRA_KEYS if sig.get(k) not in (None, "")}
        at = sig.get("timestamp")
        if at is not None and received_at is not None and abs((at - received_at).total_seconds()) > max_skew:
            extra["device_time"] = at.isoformat()
            at = None
        out.append(
            Incoming(
                DeviceKey(gb_address=frame.source, gb_component=component_key(sig)),
                SignalIn(
                    type=kind,
                    code=code,
                    value="" if value is None else str(value),
                    unit=str(sig.get("unit") or ""),
                    at=at,
                    message_id=None if kind == "heartbeat" else message_id(frame, index),
                    extra=extra,
                ),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# The writer: one thread, batches across connections
# ---------------------------------------------------------------------------------------------


@dataclass
class _Job:
    items: list[Incoming]
    future: asyncio.Future[list[Result] | None]


class _Writer:
    """Runs `Recorder.record` on one dedicated thread; a job's future gets its results, or None when
    recording failed (nothing committed: no confirm)."""

    def __init__(self, recorder: Recorder, stats: Stats, batch_max: int, batch_wait: float) -> None:
        self.recorder = recorder
        self.stats = stats
        self.batch_max = batch_max
        self.batch_wait = batch_wait
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gb26875-writer")
        self._carry: _Job | None = None

    def submit(self, items: list[Incoming]) -> asyncio.Future[list[Result] | None]:
        future: asyncio.Future[list[Result] | None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(items, future))
        return future

    async def run(self) -> None:
        while True:
            job = self._carry or await self.queue.get()
            self._carry = None
            if job is None:
                return
            jobs, stop = self._gather(job)
            if not stop and len(jobs) == 1 and len(job.items) < self.batch_max and self.batch_wait > 0:
                await asyncio.sleep(self.batch_wait)  # let other connections' frames join the batch
                more, stop = self._gather(None, len(job.items))
                jobs += more
            await self._flush(jobs)
            if stop:
                return

    def _gather(self, first: _Job | None, count: int = 0) -> tuple[list[_Job], bool]:
        jobs = [first] if first else []
        count += len(first.items) if first else 0
        while count < self.batch_max:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if job is None:
                return jobs, True
            if jobs and count + len(job.items) > self.batch_max:
                self._carry = job
                break
            jobs.append(job)
            count += len(job.items)
        return jobs, False

    async def _flush(self, jobs: list[_Job]) -> None:
        live = [j for j in jobs if not j.future.done()]  # a closed connection's frames are still recorded
        items = [i for j in jobs for i in j.items]
        if not items:
            return
        loop = asyncio.get_running_loop()
        self.stats.batches += 1
        try:
            results = await loop.run_in_executor(self.executor, self.recorder.record_fresh, items)
        except Exception:
            self.stats.db_errors += 1
            log.exception(
                "recording %d signals failed: not confirmed, the devices will retransmit", len(items)
            )
            for job in live:
                if not job.future.done():
                    job.future.set_result(None)
            return
        self.stats.recorded += len(items)
        position = 0
        for job in jobs:
            part = results[position : position + len(job.items)]
            position += len(job.items)
            if not job.future.done():
                job.future.set_result(part)

    async def close(self) -> None:
        def close_db() -> None:
            connections.close_all()

        with contextlib.suppress(Exception):
            await asyncio.get_running_loop().run_in_executor(self.executor, close_db)
        self.executor.shutdown(wait=True)


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------


@dataclass
class Stats:
    opened: int = 0
    open: int = 0
    frames: int = 0
    confirms: int = 0
    denies: int = 0
    garbage: int = 0
    signals: int = 0
    recorded: int = 0
    unknown: int = 0
    unknown_senders: int = 0  # frames from addresses with no registered device (not acted on)
    batches: int = 0
    db_errors: int = 0
    idle_closed: int = 0
    commands: int = 0
    commands_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.decoder = gb.StreamDecoder()
        self.addresses: dict[int, int] = {}  # device address -> the centre address it sends to
        self.pending: dict[int, asyncio.Future[int]] = {}  # centre command serial -> reply command
        self._serial = 0  # the centre's own counter, from 0 for each connection

    def next_serial(self) -> int:
        serial = self._serial
        self._serial = (self._serial + 1) & 0xFFFF
        return serial

    def send(self, frame: gb.Frame) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame.encode())


class GbServer:
    def __init__(
        self,
        *,
        recorder_factory: Callable[[], Recorder] = Recorder,
        now: Callable[[], datetime] = now_local,
        idle_timeout: float | None = None,
        partial_timeout: float = PARTIAL_TIMEOUT,
        reply_timeout: float | None = None,
        retries: int | None = None,
        duty_check_seconds: float | None = None,
        duty_check_window: int = 0,
        night_checks: float | None = None,
        night: str | None = None,
        rng: random.Random | None = None,
        time_sync: bool = True,
        confirm_answers: bool = False,
        max_skew: float | None = None,
        batch_max: int = BATCH_MAX,
        batch_wait: float = BATCH_WAIT,
        stats_seconds: float = STATS_SECONDS,
        unknown_senders: str | None = None,
    ) -> None:
        self.now = now
        # an address with no registered device is logged and not acted on; its uploads are
        # denied ("deny", default) or confirmed without being recorded ("confirm").
        self.unknown_answer = unknown_senders or device_services.answer_setting()
        self._sightings: dict[int, device_services.Sighting] = {}  # counted since last written
        self._sighting_written: dict[int, float] = {}
        self._sighting_writes: set[asyncio.Task[None]] = set()  # awaited on close, never cancelled
        self.idle_timeout = (
            idle_timeout if idle_timeout is not None else _setting("IDLE_SECONDS", IDLE_TIMEOUT)
        )
        self.partial_timeout = partial_timeout
        self.reply_timeout = (
            reply_timeout if reply_timeout is not None else _setting("REPLY_TIMEOUT", REPLY_TIMEOUT)
        )
        self.retries = int(retries if retries is not None else _setting("RETRIES", RETRIES))
        self.duty_check_seconds = (
            duty_check_seconds if duty_check_seconds is not None else _setting("DUTY_CHECK_SECONDS", 0)
        )
        self.duty_check_window = duty_check_window
        # Random 查岗 at night: about `night_checks` per device and night, at times nobody knows.
        self.night_checks = night_checks if night_checks is not None else _setting("NIGHT_CHECKS", 0)
        self.night = parse_night(night or os.environ.get("MINAN_GB26875_NIGHT", "") or "22:00-06:00")
        self._rng = rng or random.SystemRandom()
        self.time_sync = time_sync
        self.confirm_answers = confirm_answers
        self.max_skew = max_skew if max_skew is not None else _setting("MAX_SKEW_SECONDS", MAX_SKEW)
        self.stats_seconds = stats_seconds
        self.stats = Stats()
        self._recorder_factory = recorder_factory
        self._batch = (batch_max, batch_wait)
        self._writer: _Writer | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # connection handlers
        self._background: set[asyncio.Task[Any]] = set()  # centre commands, periodic jobs
        self._by_address: dict[int, _Connection] = {}
        self._unknown_logged: dict[int, float] = {}
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str | None, port: int) -> int:
        self._writer = _Writer(self._recorder_factory(), self.stats, *self._batch)
        self._writer_task = asyncio.get_running_loop().create_task(self._writer.run())
        self._server = await asyncio.start_server(self._handle, host, port, backlog=4096, limit=READ_SIZE)
        self.port = self._server.sockets[0].getsockname()[1]
        self._spawn(self._stats_loop())
        if self.duty_check_seconds > 0:
            self._spawn(self._duty_check_loop())
        if self.night_checks > 0:
            self._spawn(self._night_check_loop())
        log.info("GB/T 26875.3 server listening on %s:%s", host or "*", self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*self._sighting_writes, return_exceptions=True)
        if self._sightings:  # frames of unregistered senders counted since the last write
            await self._write_sightings(list(self._sightings.values()))
            self._sightings.clear()
        if self._writer is not None and self._writer_task is not None:
            self._writer.queue.put_nowait(None)  # what is queued is still recorded (not confirmed)
            await asyncio.gather(self._writer_task, return_exceptions=True)
            await self._writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        log.info("GB/T 26875.3 server stopped: %s", self.stats.as_dict())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- connections --------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = _Connection(reader, writer)
        self.stats.opened += 1
        self.stats.open += 1
        log.debug("connection from %s", conn.peer)
        try:
            await self._serve(conn)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("connection %s lost: %s", conn.peer, exc)
        except TimeoutError:
            log.info("closing %s: it does not read what the centre sends", conn.peer)
        except asyncio.CancelledError:
            pass  # the server is stopping
        except Exception:  # a bug must cost one connection, never the server
            log.exception("connection %s failed", conn.peer)
        finally:
            self.stats.open -= 1
            for address in conn.addresses:
                if self._by_address.get(address) is conn:
                    del self._by_address[address]
            for future in conn.pending.values():
                if not future.done():
                    future.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)
            self._tasks.discard(task)

    async def _serve(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        last_data = loop.time()
        while True:
            idle_left = self.idle_timeout - (loop.time() - last_data)
            if idle_left <= 0:
                self.stats.idle_closed += 1
                log.info("closing %s: nothing received for %.0f s", conn.peer, self.idle_timeout)
                return
            timeout = min(idle_left, self.partial_timeout) if conn.decoder.pending else idle_left
            try:
                data = await asyncio.wait_for(conn.reader.read(READ_SIZE), timeout)
            except TimeoutError:
                if conn.decoder.pending and loop.time() - last_data >= self.partial_timeout:
                    log.info(
                        "%s: dropped a half frame of %d bytes (timeout)", conn.peer, conn.decoder.pending
                    )
                    conn.decoder.reset()
                continue
            if not data:
                return
            last_data = loop.time()
            await self._process(conn, conn.decoder.feed(data))
            if conn.writer.transport.get_write_buffer_size() > 0:
                await asyncio.wait_for(conn.writer.drain(), self.idle_timeout)

    async def _process(self, conn: _Connection, items: list[gb.Frame | gb.FrameError]) -> None:
        uploads: list[tuple[gb.Frame, list[Incoming], asyncio.Future[list[Result] | None] | None]] = []
        for item in items:
            if isinstance(item, gb.FrameError):
                self._refuse(conn, item)
                continue
            self.stats.frames += 1
            if item.command in (gb.Command.SEND, gb.Command.ANSWER):
                incoming = to_incoming(item, received_at=datetime.now(gb.DEVICE_TZ), max_skew=self.max_skew)
                self.stats.signals += len(incoming)
                assert self._writer is not None
                uploads.append((item, incoming, self._writer.submit(incoming) if incoming else None))
            elif item.command in (gb.Command.CONFIRM, gb.Command.DENY):
                future = conn.pending.pop(item.serial, None)
                if future is not None and not future.done():
                    future.set_result(item.command)
                else:
                    log.debug(
                        "%s: reply %d to no command of ours (serial %d)", conn.peer, item.command, item.serial
                    )
            else:  # 1 and 4 are the centre's commands; an allowed user command has no handler yet
                self.stats.denies += 1
                log.info(
                    "%s: deny command %d from %d (serial %d)",
                    conn.peer,
                    item.command,
                    item.source,
                    item.serial,
                )
                conn.send(gb.deny(item, self.now()))
        for frame, incoming, recorded in uploads:
            if recorded is not None:
                results = await recorded
                if results is None:
                    continue  # not committed: no reply, the device retransmits
                if results and all(r.error == "unknown_address" for r in results):
                    self._unknown_sender(conn, frame)
                    continue
                self._note_unknown(frame, incoming, results)
            if frame.command == gb.Command.SEND or self.confirm_answers:
                conn.send(gb.confirm(frame, self.now()))
                self.stats.confirms += 1
            if frame.source not in conn.addresses:
                conn.addresses[frame.source] = frame.destination
                self._by_address[frame.source] = conn
                if self.time_sync:
                    self._spawn(self._command(conn, frame.source, "time sync", self._time_sync_frame))

    def _refuse(self, conn: _Connection, error: gb.FrameError) -> None:
        if error.frame is None:  # garbage before '@@': nothing to answer
            self.stats.garbage += 1
            log.debug("%s: %s", conn.peer, error)
            return
        self.stats.denies += 1
        log.info("%s: deny serial %d from %d: %s", conn.peer, error.frame.serial, error.frame.source, error)
        conn.send(gb.deny(error.frame, self.now()))

    def _unknown_sender(self, conn: _Connection, frame: gb.Frame) -> None:
        """Not acted on: no clock sync, no 查岗; denied or confirmed as configured; counted,
        logged and written as a sighting at most once a minute per address."""
        self.stats.unknown_senders += 1
        if self.unknown_answer == device_services.DENY:
            conn.send(gb.deny(frame, self.now()))
            self.stats.denies += 1
        elif frame.command == gb.Command.SEND:
            conn.send(gb.confirm(frame, self.now()))
            self.stats.confirms += 1
        peer = conn.peer[0] if isinstance(conn.peer, tuple) else str(conn.peer or "")
        at = datetime.now(gb.DEVICE_TZ)
        seen = self._sightings.get(frame.source)
        if seen is None:
            self._sightings[frame.source] = device_services.Sighting(frame.source, peer, 1, at, at)
        else:
            seen.frames += 1
            seen.peer, seen.last_at = peer, at
        clock = time.monotonic()
        if clock - self._sighting_written.get(frame.source, -UNKNOWN_LOG_SECONDS) >= UNKNOWN_LOG_SECONDS:
            self._sighting_written[frame.source] = clock
            sighting = self._sightings.pop(frame.source)
            log.info("unregistered sender: address %d from %s, %d frame(s) %s (no device registered there)",
                     frame.source, peer, sighting.frames, "denied" if self.unknown_answer == device_services.DENY
                     else "confirmed, not recorded")  # fmt: skip
            task = asyncio.get_running_loop().create_task(self._write_sightings([sighting]))
            self._sighting_writes.add(task)
            task.add_done_callback(self._sighting_writes.discard)

    async def _write_sightings(self, sightings: list[device_services.Sighting]) -> None:
        def write() -> None:
            close_old_connections()
            device_services.note_sightings(sightings, self.unknown_answer)

        if self._writer is None or not sightings:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer.executor, write)
        except Exception:  # a sighting is worth a log line, never the listener
            log.exception("writing unregistered senders failed")

    def _note_unknown(self, frame: gb.Frame, incoming: list[Incoming], results: list[Result]) -> None:
        errors = {r.error for r in results if r.error}
        if not errors:
            return
        self.stats.unknown += sum(1 for r in results if r.error)
        clock = time.monotonic()
        if clock - self._unknown_logged.get(frame.source, -UNKNOWN_LOG_SECONDS) >= UNKNOWN_LOG_SECONDS:
            self._unknown_logged[frame.source] = clock
            keys = sorted(
                {i.key.gb_component or "-" for i, r in zip(incoming, results, strict=True) if r.error}
            )
            log.debug("address %d: %s (%s); confirmed, not recorded", frame.source, ", ".join(sorted(errors)),
                      ", ".join(keys))  # fmt: skip

    # -- centre -> device commands ------------------------------------------------------------

    def _time_sync_frame(self, serial: int, source: int, destination: int) -> gb.Frame:
        return gb.time_sync(serial=serial, now=self.now(), source=source, destination=destination)

    def _duty_check_frame(self, serial: int, source: int, destination: int) -> gb.Frame:
        return gb.duty_check(
            serial=serial,
            now=self.now(),
            source=source,
            destination=destination,
            window=self.duty_check_window,
        )

    async def _command(
        self, conn: _Connection, address: int, what: str, build: Callable[[int, int, int], gb.Frame]
    ) -> bool:
        """Send a command and wait for the confirm; resend on timeout or deny."""
        loop = asyncio.get_running_loop()
        serial = conn.next_serial()
        frame = build(serial, conn.addresses[address], address)
        self.stats.commands += 1
        for _attempt in range(1 + self.retries):
            if conn.writer.is_closing():
                break
            future: asyncio.Future[int] = loop.create_future()
            conn.pending[serial] = future
            conn.send(frame)  # a retransmission reuses the serial
            try:
                reply = await asyncio.wait_for(future, self.reply_timeout)
            except (TimeoutError, asyncio.CancelledError):
                if conn.writer.is_closing():
                    break
                continue
            finally:
                conn.pending.pop(serial, None)
            if reply == gb.Command.CONFIRM:
                return True
        self.stats.commands_failed += 1
        log.info("%s to %d (%s) not confirmed", what, address, conn.peer)
        return False

    async def send_duty_check(self, address: int) -> bool:
        """查岗 (type 91) to a connected device; True when it confirmed. A confirmed check is recorded as
        an event `duty_check_sent` of the transmission device; the answer arrives later as a type-24
        upload, recorded as an event `duty_check_answer`; `findings.unanswered_duty_checks`
        turns a check left unanswered into a finding."""
        conn = self._by_address.get(address)
        if conn is None:
            return False
        confirmed = await self._command(conn, address, "duty check", self._duty_check_frame)
        if confirmed and self._writer is not None:
            # At the server's time (the recorder's), which the answer's window is counted in.
            check = Incoming(
                DeviceKey(gb_address=address, gb_component=""),
                SignalIn(
                    type="event",
                    code="duty_check_sent",
                    message_id=f"gb:{address}:duty_check:{time.time_ns()}",
                ),
            )
            if await self._writer.submit([check]) is None:
                log.warning("duty check to %d confirmed but not recorded", address)
        return confirmed

    @property
    def connected(self) -> list[int]:
        return sorted(self._by_address)

    # -- periodic -----------------------------------------------------------------------------

    async def _duty_check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.duty_check_seconds)
            addresses = self.connected
            results = await asyncio.gather(
                *(self.send_duty_check(a) for a in addresses), return_exceptions=True
            )
            confirmed = sum(1 for r in results if r is True)
            log.info("duty check (查岗) sent to %d devices, %d confirmed", len(addresses), confirmed)

    def night_round(self) -> list[int]:
        """One minute of the night: each connected device gets a duty check with the chance that makes
        about `night_checks` a night (each draw its own, so no institution can tell when). The addresses
        checked; none outside the night."""
        if not in_night(self.now().time(), self.night):
            return []
        chance = min(1.0, self.night_checks / night_minutes(self.night))
        chosen = [address for address in self.connected if self._rng.random() < chance]
        for address in chosen:
            self._spawn(self.send_duty_check(address))
        return chosen

    async def _night_check_loop(self) -> None:
        while True:
            await asyncio.sleep(60)
            chosen = self.night_round()
            if chosen:
                log.info("random duty check (查岗) sent to %d devices", len(chosen))

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_seconds)
            s = self.stats
            log.info(
                "gb26875: %d connections (%d opened), %d frames, %d confirms, %d denies, %d signals "
                "(%d recorded, %d unknown device) in %d batches, %d database errors",
                s.open, s.opened, s.frames, s.confirms, s.denies, s.signals, s.recorded, s.unknown,
                s.batches, s.db_errors,
            )  # fmt: skip


async def serve(
    listen: str,
    stop: asyncio.Event,
    *,
    recorder_factory: Callable[[], Recorder] = Recorder,
    on_ready: Callable[[int], None] | None = None,
    on_server: Callable[[GbServer], None] | None = None,
    **options: Any,
) -> None:
    """Serve GB/T 26875.3 on "host:port" (port 0 picks one: `on_ready` gets the bound port) until
    `stop` is set, then close the connections. `options` go to `GbServer` (now, idle_timeout, …)."""
    host, port = parse_listen(listen)
    server = GbServer(recorder_factory=recorder_factory, **options)
    try:
        bound = await server.start(host, port)
    except BaseException:
        await server.close()  # the writer task and its thread are already running: end them first
        raise
    try:
        if on_server is not None:
            on_server(server)
        if on_ready is not None:
            on_ready(bound)
        await stop.wait()
    finally:
        await server.close()
