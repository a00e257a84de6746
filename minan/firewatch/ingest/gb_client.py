"""A GB/T 26875.3 transmission device over TCP, for the simulator, the benchmark and tests (no Django).

`GbDevice(host, port, address)` opens one connection, encodes uploads with the builders of
`gb26875`, numbers them with its own serial counter (from 0 per connection) and waits for the
centre's reply matched by serial (`send` returns the confirm or deny frame). Commands from the centre
(clock sync, 查岗) are confirmed automatically and kept in `commands`; reads (command 4) are denied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime

from . import gb26875 as gb

DEFAULT_CENTRE = 0
REPLY_TIMEOUT = 10.0


def now_local() -> datetime:
    return datetime.now(gb.DEVICE_TZ)


class GbDevice:
    def __init__(
        self,
        host: str,
        port: int,
        address: int,
        *,
        centre: int = DEFAULT_CENTRE,
        now: Callable[[], datetime] = now_local,
        reply_timeout: float = REPLY_TIMEOUT,
        answer_duty_checks: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.address = address
        self.centre = centre
        self.now = now
        self.reply_timeout = reply_timeout
        self.answer_duty_checks = answer_duty_checks
        self.commands: list[gb.Frame] = []  # control commands received from the centre
        self.confirmed = 0
        self.denied = 0
        self._serial = 0
        self._pending: dict[int, asyncio.Future[gb.Frame]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._command_event = asyncio.Event()

    # -- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._serial = 0
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._fail_pending()

    async def __aenter__(self) -> GbDevice:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return (
            self._writer is not None
            and not self._writer.is_closing()
            and not (self._task and self._task.done())
        )

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))
        self._pending.clear()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        decoder = gb.StreamDecoder()
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for item in decoder.feed(data):
                    if isinstance(item, gb.Frame):
                        self._on_frame(item)
        except (ConnectionError, OSError):
            pass
        finally:
            self._fail_pending()

    def _on_frame(self, frame: gb.Frame) -> None:
        if frame.command in (gb.Command.CONFIRM, gb.Command.DENY):
            future = self._pending.pop(frame.serial, None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif frame.command == gb.Command.CONTROL:
            self.commands.append(frame)
            self._command_event.set()
            self.write(gb.confirm(frame, self.now()))
            if self.answer_duty_checks and frame.adu[:1] == b"\x5b":
                asyncio.get_running_loop().create_task(self.duty_answer())
        elif frame.command == gb.Command.REQUEST:
            self.write(gb.deny(frame, self.now()))

    async def wait_command(self, type_code: int, timeout: float = REPLY_TIMEOUT) -> gb.Frame:
        """Wait until a control command of this ADU type has arrived (e.g. 90 clock sync, 91 查岗)."""

        async def wait() -> gb.Frame:
            while True:
                for frame in self.commands:
                    if frame.adu[:1] == bytes((type_code,)):
                        return frame
                self._command_event.clear()
                await self._command_event.wait()

        return await asyncio.wait_for(wait(), timeout)

    # -- sending ------------------------------------------------------------------------------

    def next_serial(self) -> int:
        serial = self._serial
        self._serial = (self._serial + 1) & 0xFFFF
        return serial

    def write(self, frame: gb.Frame | bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("not connected")
        self._writer.write(frame.encode() if isinstance(frame, gb.Frame) else frame)

    async def send(self, frame: gb.Frame, timeout: float | None = None) -> gb.Frame:
        """Send an upload and return the centre's reply (confirm or deny) for its serial."""
        future: asyncio.Future[gb.Frame] = asyncio.get_running_loop().create_future()
        self._pending[frame.serial] = future
        try:
            self.write(frame)
            reply = await asyncio.wait_for(future, timeout or self.reply_timeout)
        finally:
            if self._pending.get(frame.serial) is future:
                del self._pending[frame.serial]
        if reply.command == gb.Command.CONFIRM:
            self.confirmed += 1
        else:
            self.denied += 1
        return reply

    async def heartbeat(self) -> gb.Frame:
        return await self.send(gb.heartbeat_frame(self.next_serial(), self.address, self.centre, self.now()))

    async def component_status(
        self,
        system_type: int,
        system_address: int,
        component_address: int,
        flags: Iterable[str],
        *,
        component_type: int = 40,
        description: str = "",
    ) -> gb.Frame:
        frame = gb.component_status_frame(
            self.next_serial(), self.address, self.centre, self.now(), system_type, system_address,
            component_type, component_address, set(flags), description,
        )  # fmt: skip
        return await self.send(frame)

    async def fire(
        self,
        system_type: int = 1,
        system_address: int = 1,
        component_address: int = 0,
        *,
        component_type: int = 40,
        description: str = "",
    ) -> gb.Frame:
        """A fire alarm of a component (type 2, bits normal + fire)."""
        return await self.component_status(
            system_type, system_address, component_address, {"normal", "fire"},
            component_type=component_type, description=description,
        )  # fmt: skip

    async def fault(
        self,
        system_type: int = 1,
        system_address: int = 1,
        component_address: int = 0,
        *,
        component_type: int = 40,
    ) -> gb.Frame:
        """A component fault (type 2, bits normal + fault)."""
        return await self.component_status(
            system_type, system_address, component_address, {"normal", "fault"}, component_type=component_type
        )

    async def restore(self, system_type: int = 1, system_address: int = 1) -> gb.Frame:
        """A system reset (type 1, bit 13): clears the open alarms of the device it resolves to."""
        frame = gb.system_status_frame(
            self.next_serial(), self.address, self.centre, self.now(), system_type, system_address,
            {"normal", "reset"},
        )  # fmt: skip
        return await self.send(frame)

    async def reading(
        self,
        system_type: int,
        system_address: int,
        component_address: int,
        analog_type: int,
        raw_value: int,
        *,
        component_type: int = 0,
    ) -> gb.Frame:
        """An analog value (type 3); `raw_value` in the minimum unit of `analog_type`."""
        frame = gb.analog_frame(
            self.next_serial(), self.address, self.centre, self.now(), system_type, system_address,
            component_type, component_address, analog_type, raw_value,
        )  # fmt: skip
        return await self.send(frame)

    async def device_status(self, flags: Iterable[str]) -> gb.Frame:
        """The transmission device's own status (type 21), e.g. {"normal", "main_power_fault"}."""
        frame = gb.device_status_frame(self.next_serial(), self.address, self.centre, self.now(), set(flags))
        return await self.send(frame)

    async def duty_answer(self, operator: int = 1) -> gb.Frame:
        """查岗应答 (type 24, b5) after a duty check."""
        frame = gb.device_operation_frame(
            self.next_serial(), self.address, self.centre, self.now(), {"duty_check_answer"}, operator
        )
        return await self.send(frame)
