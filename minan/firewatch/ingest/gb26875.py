"""Pure-Python codec for GB/T 26875.3-2011 (城市消防远程监控系统 part 3).

No Django imports: the asyncio TCP ingest server and the device simulator both use this module.

Protocol decisions:

* Frame: ``@@`` + serial (uint16 LE) + versions + 6-byte time tag + source/destination
  (uint48 LE) + ADU length ``L`` (uint16 LE, 0..1024) + command + ADU + checksum + ``##``;
  total 30 + L bytes. :meth:`Frame.decode` validates in the standard's order: start, length,
  end, checksum, command, and raises :class:`FrameError` with a stable ``reason``.
* Checksum: ``sum(frame[2:-3]) & 0xFF``.
* Commands: 1..6 are recognised; 0 and 7..127 are unrecognised ("command");
  128..255 are accepted only when listed in ``allowed_user_commands`` (device-model profile).
* Time tags: seconds first, year = 2000 + value, local time Asia/Shanghai
  (``DEVICE_TZ``). An impossible date decodes to ``None``; the raw 6 bytes are kept so that
  ``encode(decode(x)) == x`` still holds.
* Replies: echo the serial, source = centre address (defaults to the frame's
  destination), destination = the frame's source, time tag = centre time, empty ADU,
  versions ``01 01`` (user version is a parameter), command 3 (confirm) or 6 (deny).
* ADU: :func:`parse_adu` decodes upload types 1-8, 21, 24-26, 28 and the
  downstream types 61-68, 81, 84-91. User-defined types 128..254 are returned raw.
  The size check refuses ``L != 2 + sum(object sizes)`` and ``n`` above the maximum with
  ``FrameError("adu")``. Per the standard this is *not* a frame validation error: the frame is still
  confirmed and :func:`to_signals` turns it into a ``malformed`` signal for review.
* Text: GB 18030, trailing NUL and spaces stripped; undecodable bytes are replaced.
* Analog values: ``Decimal(raw) * minimum unit``; values outside the valid range are
  flagged, never dropped.
* Type 90/91: standard layout (one reserved byte) by default; the time-carrying
  type-90 variant and the window byte of type 91 are builder options.
* Signals: fire bits are never dropped because bit 0 says "test"; the
  test flag is reported as ``test``. Heartbeat = command 2 with an empty ADU.
* Upload builders (``heartbeat_frame``, ``system_status_frame``, ``component_status_frame``,
  ``analog_frame``, ``device_status_frame``, ``device_operation_frame``) encode what a device sends,
  for the simulator and the benchmark; descriptions are padded like the samples (spaces + NUL).
* Stream decoding: :class:`StreamDecoder` never raises, resynchronises on the next
  ``@@`` after garbage or a bad frame, and bounds its buffer. It drops only the first start byte
  of a bad frame (not both, as the standard words it) so that ``@@@`` + frame still resynchronises.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ADU_MAX",
    "DEVICE_TZ",
    "AnalogValue",
    "Command",
    "ComponentConfig",
    "ComponentStatus",
    "DeviceConfig",
    "DeviceOperation",
    "DeviceSoftwareVersion",
    "DeviceStatus",
    "DeviceTime",
    "DownstreamObject",
    "FacilityOperation",
    "FacilitySoftwareVersion",
    "FacilityTime",
    "Frame",
    "FrameError",
    "RawObject",
    "StreamDecoder",
    "SystemConfig",
    "SystemStatus",
    "TypedAdu",
    "analog_frame",
    "build_command",
    "checksum",
    "component_status_frame",
    "confirm",
    "decode_time",
    "deny",
    "device_operation_frame",
    "device_status_frame",
    "duty_check",
    "encode_text",
    "encode_time",
    "flag_bits",
    "heartbeat_frame",
    "initialise",
    "parse_adu",
    "read_request",
    "system_status_frame",
    "time_sync",
    "to_signals",
    "upload_frame",
]

START = b"@@"
END = b"##"
HEADER_LEN = 27  # bytes before the ADU (start .. command)
ADU_MAX = 1024
FRAME_OVERHEAD = 30
MAX_FRAME = FRAME_OVERHEAD + ADU_MAX
DEVICE_TZ = ZoneInfo("Asia/Shanghai")
ZERO_TIME = bytes(6)


class Command(enum.IntEnum):
    """The command byte."""

    CONTROL = 1
    SEND = 2
    CONFIRM = 3
    REQUEST = 4
    ANSWER = 5
    DENY = 6


STANDARD_COMMANDS = frozenset(int(c) for c in Command)

FrameErrorReason = Literal["start", "end", "checksum", "length", "command", "adu"]


class FrameError(Exception):
    """A validation error.

    ``reason`` is a stable code. ``frame`` carries the header decoded despite the error when it
    could be read (serial, addresses), so that the caller can reply deny with the received serial.
    ``raw`` holds the offending bytes (for ``start`` errors: the discarded garbage).
    """

    def __init__(
        self, reason: FrameErrorReason, detail: str = "", *, frame: Frame | None = None, raw: bytes = b""
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: FrameErrorReason = reason
        self.detail = detail
        self.frame = frame
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameError) and (self.reason, self.detail) == (other.reason, other.detail)

    def __hash__(self) -> int:
        return hash((self.reason, self.detail))

    def __repr__(self) -> str:
        return f"FrameError({self.reason!r}, {self.detail!r})"


# ---------------------------------------------------------------------------------------------
# Primitives: checksum, time tags, integers, text
# ---------------------------------------------------------------------------------------------


def checksum(frame: bytes) -> int:
    """The checksum: low 8 bits of the sum of bytes 3..27 and the ADU; ``frame`` is ``@@`` .. ``##``."""
    return sum(frame[2:-3]) & 0xFF


def decode_time(raw: bytes, tz: ZoneInfo | None = DEVICE_TZ) -> datetime | None:
    """A time tag (second, minute, hour, day, month, year-2000); ``None`` when invalid."""
    if len(raw) != 6:
        return None
    second, minute, hour, day, month, year = raw
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None


def encode_time(value: datetime | None, tz: ZoneInfo = DEVICE_TZ) -> bytes:
    """Encode a time tag. Aware datetimes are converted to ``tz``; naive ones are used as-is."""
    if value is None:
        return ZERO_TIME
    if value.tzinfo is not None:
        value = value.astimezone(tz)
    if not 2000 <= value.year <= 2099:
        raise ValueError(f"year {value.year} cannot be encoded in a GB/T 26875 time tag")
    return bytes((value.second, value.minute, value.hour, value.day, value.month, value.year - 2000))


def _u16(b: bytes, offset: int = 0) -> int:
    return int.from_bytes(b[offset : offset + 2], "little")


def _u48(b: bytes, offset: int = 0) -> int:
    return int.from_bytes(b[offset : offset + 6], "little")


def decode_text(raw: bytes) -> str:
    """GB 18030 text; trailing NUL and spaces stripped."""
    return raw.decode("gb18030", errors="replace").rstrip("\x00 ").rstrip("\x00 ")


# ---------------------------------------------------------------------------------------------
# Frame
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One GB/T 26875.3 packet."""

    serial: int
    main_version: int
    user_version: int
    sent_at: datetime | None
    source: int
    destination: int
    command: int
    adu: bytes = b""
    #: the 6 time-tag bytes as received (keeps invalid tags for re-encoding)
    raw_time: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def is_heartbeat(self) -> bool:
        """A heartbeat: command 2 with an empty ADU."""
        return self.command == Command.SEND and not self.adu

    def encode(self) -> bytes:
        if len(self.adu) > ADU_MAX:
            raise ValueError(f"ADU of {len(self.adu)} bytes exceeds {ADU_MAX}")
        if self.sent_at is not None:
            time_tag = encode_time(self.sent_at)
        elif self.raw_time is not None and len(self.raw_time) == 6:
            time_tag = self.raw_time
        else:
            time_tag = ZERO_TIME
        body = (
            self.serial.to_bytes(2, "little")
            + bytes((self.main_version, self.user_version))
            + time_tag
            + self.source.to_bytes(6, "little")
            + self.destination.to_bytes(6, "little")
            + len(self.adu).to_bytes(2, "little")
            + bytes((self.command,))
            + self.adu
        )
        return START + body + bytes((sum(body) & 0xFF,)) + END

    @classmethod
    def decode(cls, data: bytes, allowed_user_commands: Iterable[int] = ()) -> Frame:
        """Decode exactly one frame; raise :class:`FrameError` on the errors the standard lists."""
        data = bytes(data)
        if data[:2] != START:
            raise FrameError("start", f"expected 4040, got {data[:2].hex()}", raw=data)
        if len(data) < FRAME_OVERHEAD:
            raise FrameError("length", f"{len(data)} bytes is shorter than a frame", raw=data)
        header = _header(data)
        length = _u16(data, 24)
        if length > ADU_MAX:
            raise FrameError("length", f"L={length} exceeds {ADU_MAX}", frame=header, raw=data)
        if len(data) != FRAME_OVERHEAD + length:
            raise FrameError(
                "length",
                f"{len(data)} bytes, L={length} needs {FRAME_OVERHEAD + length}",
                frame=header,
                raw=data,
            )
        frame = cls._from_checked_length(data, length)
        if data[28 + length : 30 + length] != END:
            raise FrameError("end", f"got {data[28 + length : 30 + length].hex()}", frame=frame, raw=data)
        expected = checksum(data)
        if data[27 + length] != expected:
            raise FrameError(
                "checksum", f"got {data[27 + length]:02X}, computed {expected:02X}", frame=frame, raw=data
            )
        if frame.command not in STANDARD_COMMANDS and frame.command not in set(allowed_user_commands):
            raise FrameError("command", f"unrecognised command {frame.command}", frame=frame, raw=data)
        return frame

    @classmethod
    def _from_checked_length(cls, data: bytes, length: int) -> Frame:
        raw_time = data[6:12]
        return cls(
            serial=_u16(data, 2),
            main_version=data[4],
            user_version=data[5],
            sent_at=decode_time(raw_time),
            source=_u48(data, 12),
            destination=_u48(data, 18),
            command=data[26],
            adu=data[27 : 27 + length],
            raw_time=raw_time,
        )


def _header(data: bytes) -> Frame:
    """The header fields of a (possibly invalid) frame, ADU left empty."""
    return Frame._from_checked_length(data[:HEADER_LEN], 0)


# ---------------------------------------------------------------------------------------------
# Stream decoder
# ---------------------------------------------------------------------------------------------


class StreamDecoder:
    """Incremental decoder for a TCP byte stream (split and merged frames, 粘包).

    ``feed`` never raises. Garbage before ``@@`` is discarded and reported as one
    ``FrameError("start")`` per contiguous run and input slice; a bad frame is reported and
    decoding resumes at the next ``@@`` after its first start byte. A frame with a bad checksum
    or command but correct delimiters is consumed whole. Errors carry the received header in
    ``FrameError.frame`` when it could be read, so the caller can deny with the received serial.
    The buffer never holds more than one maximal frame plus one ``slice_size`` slice of input.
    Apply an inter-byte timeout in the caller and call :meth:`reset` when it expires.
    """

    def __init__(self, allowed_user_commands: Iterable[int] = (), *, slice_size: int = 4096) -> None:
        self.allowed_user_commands = frozenset(allowed_user_commands)
        self.slice_size = max(1, slice_size)
        self._buf = bytearray()
        self._garbage = 0

    @property
    def max_buffer(self) -> int:
        return MAX_FRAME + self.slice_size

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame waiting for more input."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop a half-received frame (e.g. after the inter-byte timeout)."""
        self._buf.clear()

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        for i in range(0, len(chunk), self.slice_size):
            self._buf += chunk[i : i + self.slice_size]
            self._drain(out)
        return out

    def _flush_garbage(self, out: list[Frame | FrameError]) -> None:
        if self._garbage:
            out.append(FrameError("start", f"discarded {self._garbage} bytes before @@"))
            self._garbage = 0

    def _drain(self, out: list[Frame | FrameError]) -> None:
        """Extract frames. After a framing error only the first start byte is dropped (the standard says
        "discard the two start bytes"): with ``@@@`` the real start may be at offset 1, and dropping
        one byte is otherwise equivalent because the next search skips a lone ``@``.
        """
        buf = self._buf
        while True:
            pos = buf.find(START)
            if pos < 0:
                # keep a trailing '@' that may be the first half of a start sequence
                keep = 1 if buf[-1:] == b"@" else 0
                self._garbage += len(buf) - keep
                del buf[: len(buf) - keep]
                self._flush_garbage(out)
                return
            if pos:
                self._garbage += pos
                del buf[:pos]
            self._flush_garbage(out)
            if len(buf) < HEADER_LEN:
                return
            length = _u16(bytes(buf[24:26]))
            if length > ADU_MAX:
                header = _header(bytes(buf[:HEADER_LEN]))
                out.append(FrameError("length", f"L={length} exceeds {ADU_MAX}", frame=header))
                del buf[:1]
                continue
            total = FRAME_OVERHEAD + length
            if len(buf) < total:
                return
            data = bytes(buf[:total])
            try:
                out.append(Frame.decode(data, self.allowed_user_commands))
            except FrameError as exc:
                out.append(exc)
                if exc.reason in ("start", "end", "length"):
                    # framing is not trustworthy: resynchronise on the next '@@' (see _drain doc)
                    del buf[:1]
                    continue
            except Exception as exc:  # pragma: no cover - defensive, feed() must never raise
                out.append(FrameError("length", f"undecodable: {exc!r}", raw=data))
                del buf[:1]
                continue
            # a well-delimited frame (valid, or checksum/command error): consume it whole
            del buf[:total]


# ---------------------------------------------------------------------------------------------
# Replies and centre -> device commands
# ---------------------------------------------------------------------------------------------


def _reply(frame: Frame, command: Command, now: datetime, source: int | None, user_version: int) -> Frame:
    return Frame(
        serial=frame.serial,
        main_version=1,
        user_version=user_version,
        sent_at=now,
        source=frame.destination if source is None else source,
        destination=frame.source,
        command=command,
        adu=b"",
    )


def confirm(frame: Frame, now: datetime, source: int | None = None, *, user_version: int = 1) -> Frame:
    """Confirm (command 3): serial echoed, addresses swapped, centre time, empty ADU."""
    return _reply(frame, Command.CONFIRM, now, source, user_version)


def deny(frame: Frame, now: datetime, source: int | None = None, *, user_version: int = 1) -> Frame:
    """Deny (command 6): serial echoed, addresses swapped, centre time, empty ADU."""
    return _reply(frame, Command.DENY, now, source, user_version)


def build_command(
    *,
    serial: int,
    now: datetime,
    source: int,
    destination: int,
    command: int,
    type_code: int,
    objects: Iterable[bytes],
    user_version: int = 1,
) -> Frame:
    objs = list(objects)
    adu = bytes((type_code, len(objs))) + b"".join(objs)
    return Frame(serial, 1, user_version, now, source, destination, command, adu)


def initialise(*, serial: int, now: datetime, source: int, destination: int) -> Frame:
    """Type 89, command 1: initialise the transmission device."""
    return build_command(
        serial=serial,
        now=now,
        source=source,
        destination=destination,
        command=1,
        type_code=89,
        objects=[b"\x00"],
    )


def time_sync(
    *,
    serial: int,
    now: datetime,
    source: int,
    destination: int,
    with_time: bool = False,
    clock: datetime | None = None,
) -> Frame:
    """Type 90, command 1. Standard layout: one reserved byte (the device takes the header time).

    ``with_time=True`` selects the time-carrying variant; the ADU time is ``clock``
    (default ``now``).
    """
    obj = encode_time(clock or now) if with_time else b"\x00"
    return build_command(
        serial=serial, now=now, source=source, destination=destination, command=1, type_code=90, objects=[obj]
    )


def duty_check(*, serial: int, now: datetime, source: int, destination: int, window: int = 0) -> Frame:
    """Type 91 (查岗), command 1. ``window=0`` = standard reserved byte; ``0x0A`` = the 10-min variant."""
    return build_command(
        serial=serial,
        now=now,
        source=source,
        destination=destination,
        command=1,
        type_code=91,
        objects=[bytes((window,))],
    )


def read_request(
    *,
    serial: int,
    now: datetime,
    source: int,
    destination: int,
    type_code: int,
    objects: Iterable[bytes] = (b"\x00",),
) -> Frame:
    """Command 4 read (types 61-68, 81, 84-88). Device reads default to the reserved byte 0."""
    if type_code not in READ_OBJECT_SIZES:
        raise ValueError(f"{type_code} is not a read type")
    objs = list(objects)
    size = READ_OBJECT_SIZES[type_code]
    if any(len(o) != size for o in objs):
        raise ValueError(f"type {type_code} objects are {size} bytes")
    return build_command(
        serial=serial,
        now=now,
        source=source,
        destination=destination,
        command=4,
        type_code=type_code,
        objects=objs,
    )


# ---------------------------------------------------------------------------------------------
# ADU objects
# ---------------------------------------------------------------------------------------------


def _bits(value: int, names: dict[int, str]) -> frozenset[str]:
    return frozenset(name for bit, name in names.items() if value >> bit & 1)


SYSTEM_STATUS_BITS = {
    0: "normal",
    1: "fire",
    2: "fault",
    3: "isolated",
    4: "supervisory",
    5: "started",
    6: "feedback",
    7: "delay",
    8: "main_power_fault",
    9: "backup_power_fault",
    10: "bus_fault",
    11: "manual_mode",
    12: "config_changed",
    13: "reset",
}
COMPONENT_STATUS_BITS = {**{b: n for b, n in SYSTEM_STATUS_BITS.items() if b < 8}, 8: "power_fault"}
DEVICE_STATUS_BITS = {
    0: "normal",
    1: "fire",
    2: "fault",
    3: "main_power_fault",
    4: "backup_power_fault",
    5: "link_fault",
    6: "monitored_line_fault",
}
FACILITY_OPERATION_BITS = {
    0: "reset",
    1: "silence",
    2: "manual_alarm",
    3: "alarm_cleared",
    4: "self_test",
    5: "confirm",
    6: "test",
}
DEVICE_OPERATION_BITS = {**FACILITY_OPERATION_BITS, 5: "duty_check_answer"}

SYSTEM_TYPES = {
    0: "通用",
    1: "火灾报警系统",
    10: "消防联动控制器",
    11: "消火栓系统",
    12: "自动喷水灭火系统",
    13: "气体灭火系统",
    14: "水喷雾灭火系统(泵启动方式)",
    15: "水喷雾灭火系统(压力容器启动方式)",
    16: "泡沫灭火系统",
    17: "干粉灭火系统",
    18: "防烟排烟系统",
    19: "防火门及卷帘系统",
    20: "消防电梯",
    21: "消防应急广播",
    22: "消防应急照明和疏散指示系统",
    23: "消防电源",
    24: "消防电话",
}

COMPONENT_TYPES = {
    0: "通用",
    1: "火灾报警控制器",
    10: "可燃气体探测器",
    11: "点型可燃气体探测器",
    12: "独立式可燃气体探测器",
    13: "线型可燃气体探测器",
    16: "电气火灾监控报警器",
    17: "剩余电流式电气火灾监控探测器",
    18: "测温式电气火灾监控探测器",
    21: "探测回路",
    22: "火灾显示盘",
    23: "手动火灾报警按钮",
    24: "消火栓按钮",
    25: "火灾探测器",
    30: "感温火灾探测器",
    31: "点型感温火灾探测器",
    32: "点型感温火灾探测器(S型)",
    33: "点型感温火灾探测器(R型)",
    34: "线型感温火灾探测器",
    35: "线型感温火灾探测器(S型)",
    36: "线型感温火灾探测器(R型)",
    37: "光纤感温火灾探测器",
    40: "感烟火灾探测器",
    41: "点型离子感烟火灾探测器",
    42: "点型光电感烟火灾探测器",
    43: "线型光束感烟火灾探测器",
    44: "吸气式感烟火灾探测器",
    50: "复合式火灾探测器",
    51: "复合式感烟感温火灾探测器",
    52: "复合式感光感温火灾探测器",
    53: "复合式感光感烟火灾探测器",
    61: "紫外火灾探测器",
    62: "红外火焰探测器",
    69: "感光火灾探测器",
    74: "气体探测器",
    78: "图像摄像方式火灾探测器",
    79: "感声火灾探测器",
    81: "气体灭火控制器",
    82: "消防电气控制装置",
    83: "消防控制室图形显示装置",
    84: "模块",
    85: "输入模块",
    86: "输出模块",
    87: "输入/输出模块",
    88: "中继模块",
    91: "消防水泵",
    92: "消防水箱",
    95: "喷淋泵",
    96: "水流指示器",
    97: "信号阀",
    98: "报警阀",
    99: "压力开关",
    101: "阀驱动装置",
    102: "防火门",
    103: "防火阀",
    104: "通风空调",
    105: "泡沫液泵",
    106: "管网电磁阀",
    111: "防烟排烟风机",
    113: "排烟防火阀",
    114: "常闭送风口",
    115: "排烟口",
    116: "电控挡烟垂壁",
    117: "防火卷帘控制器",
    118: "防火门监控器",
    121: "报警装置",
}


@dataclass(frozen=True)
class AnalogSpec:
    code: str
    unit: str
    minimum: Decimal
    low: Decimal
    high: Decimal


#: Analog types: code, unit, minimum unit (scale) and valid range (engineering values)
ANALOG_TYPES: dict[int, AnalogSpec] = {
    1: AnalogSpec("event_count", "件", Decimal(1), Decimal(0), Decimal(32000)),
    2: AnalogSpec("height", "m", Decimal("0.01"), Decimal(0), Decimal(320)),
    3: AnalogSpec("temperature", "℃", Decimal("0.1"), Decimal(-273), Decimal(3200)),
    4: AnalogSpec("pressure", "MPa", Decimal("0.1"), Decimal(0), Decimal(3200)),
    5: AnalogSpec("pressure", "kPa", Decimal("0.1"), Decimal(0), Decimal(3200)),
    6: AnalogSpec("gas_concentration", "%LEL", Decimal("0.1"), Decimal(0), Decimal(100)),
    7: AnalogSpec("time", "s", Decimal(1), Decimal(0), Decimal(32000)),
    8: AnalogSpec("voltage", "V", Decimal("0.1"), Decimal(0), Decimal(3200)),
    9: AnalogSpec("current", "A", Decimal("0.1"), Decimal(0), Decimal(3200)),
    10: AnalogSpec("flow", "L/s", Decimal("0.1"), Decimal(0), Decimal(3200)),
    11: AnalogSpec("air_volume", "m³/min", Decimal("0.1"), Decimal(0), Decimal(3200)),
    12: AnalogSpec("air_speed", "m/s", Decimal(1), Decimal(0), Decimal(20)),
}


@dataclass(frozen=True)
class ComponentAddress:
    """A component address: zone (区号) and point (位号), plus the raw uint32 LE."""

    zone: int
    point: int
    raw: int

    @classmethod
    def decode(cls, b: bytes) -> ComponentAddress:
        return cls(zone=_u16(b, 0), point=_u16(b, 2), raw=int.from_bytes(b[:4], "little"))


@dataclass(frozen=True)
class _Timed:
    #: event / sampling time; None when the tag is invalid or the type carries none
    time: datetime | None
    raw_time: bytes


@dataclass(frozen=True)
class SystemStatus(_Timed):
    """Type 1."""

    system_type: int
    system_address: int
    status: int

    @property
    def flags(self) -> frozenset[str]:
        return _bits(self.status, SYSTEM_STATUS_BITS)


@dataclass(frozen=True)
class ComponentStatus(_Timed):
    """Type 2."""

    system_type: int
    system_address: int
    component_type: int
    address: ComponentAddress
    status: int
    description: str

    @property
    def flags(self) -> frozenset[str]:
        return _bits(self.status, COMPONENT_STATUS_BITS)


@dataclass(frozen=True)
class AnalogValue(_Timed):
    """Type 3 (time = sampling time)."""

    system_type: int
    system_address: int
    component_type: int
    address: ComponentAddress
    analog_type: int
    raw_value: int

    @property
    def spec(self) -> AnalogSpec | None:
        return ANALOG_TYPES.get(self.analog_type)

    @property
    def value(self) -> Decimal:
        spec = self.spec
        return Decimal(self.raw_value) * spec.minimum if spec else Decimal(self.raw_value)

    @property
    def unit(self) -> str | None:
        spec = self.spec
        return spec.unit if spec else None

    @property
    def out_of_range(self) -> bool:
        spec = self.spec
        return spec is not None and not spec.low <= self.value <= spec.high


@dataclass(frozen=True)
class FacilityOperation(_Timed):
    """Type 4."""

    system_type: int
    system_address: int
    operation: int
    operator: int

    @property
    def flags(self) -> frozenset[str]:
        return _bits(self.operation, FACILITY_OPERATION_BITS)


@dataclass(frozen=True)
class FacilitySoftwareVersion:
    """Type 5."""

    system_type: int
    system_address: int
    major: int
    minor: int


@dataclass(frozen=True)
class SystemConfig:
    """Type 6."""

    system_type: int
    system_address: int
    text: str


@dataclass(frozen=True)
class ComponentConfig:
    """Type 7."""

    system_type: int
    system_address: int
    component_type: int
    address: ComponentAddress
    description: str


@dataclass(frozen=True)
class FacilityTime:
    """Type 8."""

    system_type: int
    system_address: int
    time: datetime | None
    raw_time: bytes


@dataclass(frozen=True)
class DeviceStatus(_Timed):
    """Type 21."""

    status: int

    @property
    def flags(self) -> frozenset[str]:
        return _bits(self.status, DEVICE_STATUS_BITS)


@dataclass(frozen=True)
class DeviceOperation(_Timed):
    """Type 24."""

    operation: int
    operator: int

    @property
    def flags(self) -> frozenset[str]:
        return _bits(self.operation, DEVICE_OPERATION_BITS)


@dataclass(frozen=True)
class DeviceSoftwareVersion:
    """Type 25."""

    major: int
    minor: int


@dataclass(frozen=True)
class DeviceConfig:
    """Type 26."""

    text: str


@dataclass(frozen=True)
class DeviceTime:
    """Type 28."""

    time: datetime | None
    raw_time: bytes


@dataclass(frozen=True)
class DownstreamObject:
    """Objects of the centre -> device types 61-68, 81, 84-91 (command 1 / 4)."""

    system_type: int | None = None
    system_address: int | None = None
    address: ComponentAddress | None = None
    record_count: int | None = None
    start_time: datetime | None = None
    #: reserved byte (81, 85, 86, 88, 89, standard 90/91) or the 查岗 window byte variant
    reserved: int | None = None
    #: time of the time-carrying type-90 variant
    time: datetime | None = None


@dataclass(frozen=True)
class RawObject:
    """A user-defined type (128-254): not interpreted."""

    raw: bytes


AduObject = (
    SystemStatus
    | ComponentStatus
    | AnalogValue
    | FacilityOperation
    | FacilitySoftwareVersion
    | SystemConfig
    | ComponentConfig
    | FacilityTime
    | DeviceStatus
    | DeviceOperation
    | DeviceSoftwareVersion
    | DeviceConfig
    | DeviceTime
    | DownstreamObject
    | RawObject
)


@dataclass(frozen=True)
class TypedAdu:
    type_code: int
    objects: tuple[AduObject, ...]


# type -> (n max, body size, time tag per object) for the fixed-size upstream types
UPSTREAM_FIXED: dict[int, tuple[int, int, bool]] = {
    1: (102, 4, True),
    2: (22, 40, True),
    3: (63, 10, True),
    4: (102, 4, True),
    5: (1, 4, False),
    7: (26, 38, False),
    8: (1, 8, False),
    21: (1, 1, True),
    24: (127, 2, True),
    25: (1, 2, False),
    28: (1, 6, False),
}
# variable-size upstream types: n max, bytes before the length byte
UPSTREAM_VARIABLE: dict[int, tuple[int, int]] = {6: (3, 2), 26: (1, 0)}

READ_OBJECT_SIZES: dict[int, int] = {
    61: 2,
    62: 6,
    63: 6,
    64: 9,
    65: 2,
    66: 2,
    67: 6,
    68: 2,
    81: 1,
    84: 7,
    85: 1,
    86: 1,
    88: 1,
}
DOWNSTREAM_N_MAX: dict[int, int] = {
    61: 102,
    62: 22,
    63: 63,
    64: 1,
    65: 1,
    66: 3,
    67: 26,
    68: 1,
    81: 1,
    84: 1,
    85: 1,
    86: 1,
    88: 1,
    89: 1,
    90: 1,
    91: 1,
}


def _upstream_object(type_code: int, body: bytes, tag: bytes) -> AduObject:
    t = decode_time(tag) if tag else None
    if type_code == 1:
        return SystemStatus(t, tag, body[0], body[1], _u16(body, 2))
    if type_code == 2:
        return ComponentStatus(
            t,
            tag,
            body[0],
            body[1],
            body[2],
            ComponentAddress.decode(body[3:7]),
            _u16(body, 7),
            decode_text(body[9:40]),
        )
    if type_code == 3:
        raw = int.from_bytes(body[8:10], "little", signed=True)
        return AnalogValue(
            t, tag, body[0], body[1], body[2], ComponentAddress.decode(body[3:7]), body[7], raw
        )
    if type_code == 4:
        return FacilityOperation(t, tag, body[0], body[1], body[2], body[3])
    if type_code == 5:
        return FacilitySoftwareVersion(body[0], body[1], body[2], body[3])
    if type_code == 7:
        return ComponentConfig(
            body[0], body[1], body[2], ComponentAddress.decode(body[3:7]), decode_text(body[7:38])
        )
    if type_code == 8:
        return FacilityTime(body[0], body[1], decode_time(body[2:8]), body[2:8])
    if type_code == 21:
        return DeviceStatus(t, tag, body[0])
    if type_code == 24:
        return DeviceOperation(t, tag, body[0], body[1])
    if type_code == 25:
        return DeviceSoftwareVersion(body[0], body[1])
    if type_code == 28:
        return DeviceTime(decode_time(body), body)
    raise AssertionError(type_code)  # pragma: no cover


def _downstream_object(type_code: int, body: bytes) -> DownstreamObject:
    if type_code in (61, 65, 66, 68):
        return DownstreamObject(system_type=body[0], system_address=body[1])
    if type_code in (62, 63, 67):
        return DownstreamObject(
            system_type=body[0], system_address=body[1], address=ComponentAddress.decode(body[2:6])
        )
    if type_code == 64:
        return DownstreamObject(
            system_type=body[0],
            system_address=body[1],
            record_count=body[2],
            start_time=decode_time(body[3:9]),
        )
    if type_code == 84:
        return DownstreamObject(record_count=body[0], start_time=decode_time(body[1:7]))
    if type_code == 90 and len(body) == 6:
        return DownstreamObject(time=decode_time(body))
    return DownstreamObject(reserved=body[0])


def parse_adu(adu: bytes, command: int = Command.SEND) -> TypedAdu:
    """Decode an ADU into typed objects; the size check raises ``FrameError("adu")``.

    ``command`` selects the direction: 2/5 (and user commands) = upstream layouts, 1/4 =
    downstream layouts. An empty ADU is refused (a heartbeat has no ADU to parse).
    """
    if len(adu) < 2:
        raise FrameError("adu", f"ADU of {len(adu)} bytes has no type and count")
    type_code, count = adu[0], adu[1]
    payload = adu[2:]
    if 128 <= type_code <= 254:
        return TypedAdu(type_code, (RawObject(payload),))
    if command in (Command.CONTROL, Command.REQUEST):
        return _parse_downstream(type_code, count, payload)
    if type_code in UPSTREAM_FIXED:
        n_max, body, timed = UPSTREAM_FIXED[type_code]
        size = body + (6 if timed else 0)
        if count > n_max:
            raise FrameError("adu", f"type {type_code}: n={count} exceeds {n_max}")
        if len(payload) != count * size:
            raise FrameError(
                "adu", f"type {type_code}: n={count} needs L={2 + count * size}, got L={len(adu)}"
            )
        objs = [
            _upstream_object(type_code, payload[i : i + body], payload[i + body : i + size] if timed else b"")
            for i in range(0, count * size, size)
        ]
        return TypedAdu(type_code, tuple(objs))
    if type_code in UPSTREAM_VARIABLE:
        n_max, prefix = UPSTREAM_VARIABLE[type_code]
        if count > n_max:
            raise FrameError("adu", f"type {type_code}: n={count} exceeds {n_max}")
        var_objs: list[AduObject] = []
        pos = 0
        for _ in range(count):
            if pos + prefix + 1 > len(payload):
                raise FrameError("adu", f"type {type_code}: truncated object")
            text_len = payload[pos + prefix]
            end = pos + prefix + 1 + text_len
            if end > len(payload):
                raise FrameError("adu", f"type {type_code}: text of {text_len} bytes overruns the ADU")
            text = decode_text(payload[pos + prefix + 1 : end])
            if type_code == 6:
                var_objs.append(SystemConfig(payload[pos], payload[pos + 1], text))
            else:
                var_objs.append(DeviceConfig(text))
            pos = end
        if pos != len(payload):
            raise FrameError("adu", f"type {type_code}: {len(payload) - pos} trailing bytes")
        return TypedAdu(type_code, tuple(var_objs))
    raise FrameError("adu", f"unknown or reserved upstream type {type_code}")


def _parse_downstream(type_code: int, count: int, payload: bytes) -> TypedAdu:
    if type_code not in DOWNSTREAM_N_MAX:
        raise FrameError("adu", f"unknown or reserved downstream type {type_code}")
    if count > DOWNSTREAM_N_MAX[type_code]:
        raise FrameError("adu", f"type {type_code}: n={count} exceeds {DOWNSTREAM_N_MAX[type_code]}")
    size = READ_OBJECT_SIZES.get(type_code, 1)
    if type_code == 90 and count == 1 and len(payload) == 6:
        size = 6  # time-carrying variant
    if len(payload) != count * size:
        raise FrameError(
            "adu", f"type {type_code}: n={count} needs L={2 + count * size}, got L={2 + len(payload)}"
        )
    objs = tuple(_downstream_object(type_code, payload[i : i + size]) for i in range(0, count * size, size))
    return TypedAdu(type_code, objs)


# ---------------------------------------------------------------------------------------------
# Mapping to MinAn signals
# ---------------------------------------------------------------------------------------------

Signal = dict[str, Any]

# flag -> (signal type, MinAn code, default severity, value)
_STATUS_MAP: dict[str, tuple[str, str, str, str]] = {
    "fire": ("alarm", "fire", "critical", "fire"),
    "supervisory": ("alarm", "supervisory", "major", "supervisory"),
    "main_power_fault": ("fault", "power_fault", "major", "main_power"),
    "backup_power_fault": ("fault", "power_fault", "major", "backup_power"),
    "power_fault": ("fault", "power_fault", "major", "power"),
    "link_fault": ("fault", "offline", "major", "link_to_centre"),
    "fault": ("fault", "fault", "minor", "fault"),
    "bus_fault": ("fault", "fault", "minor", "bus"),
    "monitored_line_fault": ("fault", "fault", "minor", "monitored_line"),
    "isolated": ("fault", "isolated", "warning", "isolated"),
    "started": ("event", "linkage", "info", "started"),
    "feedback": ("event", "linkage", "info", "feedback"),
    "delay": ("event", "linkage", "info", "delay"),
    "manual_mode": ("event", "linkage", "info", "manual_mode"),
    "reset": ("restore", "reset", "", "reset"),
}
_OPERATION_MAP: dict[str, tuple[str, str, str, str]] = {
    "manual_alarm": ("alarm", "fire", "critical", "manual_alarm"),
    "reset": ("restore", "reset", "", "reset"),
    "alarm_cleared": ("restore", "alarm_cleared", "", "alarm_cleared"),
    "duty_check_answer": ("event", "duty_check_answer", "info", "duty_check_answer"),
}
_ORDER = [
    "fire",
    "manual_alarm",
    "supervisory",
    "main_power_fault",
    "backup_power_fault",
    "power_fault",
    "link_fault",
    "fault",
    "bus_fault",
    "monitored_line_fault",
    "isolated",
    "started",
    "feedback",
    "delay",
    "manual_mode",
    "reset",
    "alarm_cleared",
    "duty_check_answer",
]


def _base(frame: Frame, obj: object | None, type_code: int | None) -> Signal:
    time = getattr(obj, "time", None) if obj is not None else None
    sig: Signal = {
        "timestamp": time or frame.sent_at,
        "device_address": frame.source,
        "serial": frame.serial,
        "command": frame.command,
        "adu_type": type_code,
    }
    for attr in ("system_type", "system_address", "component_type"):
        if hasattr(obj, attr):
            sig[attr] = getattr(obj, attr)
    address = getattr(obj, "address", None)
    if isinstance(address, ComponentAddress):
        sig["component_zone"] = address.zone
        sig["component_point"] = address.point
        sig["component_address"] = address.raw
    if isinstance(obj, ComponentStatus):
        sig["description"] = obj.description
    return sig


def _flag_signals(
    frame: Frame,
    obj: object,
    type_code: int,
    flags: frozenset[str],
    table: dict[str, tuple[str, str, str, str]],
) -> list[Signal]:
    out: list[Signal] = []
    test = "normal" not in flags and type_code in (1, 2, 21)
    for name in _ORDER:
        if name in flags and name in table:
            sig_type, code, severity, value = table[name]
            sig = _base(frame, obj, type_code)
            sig.update(type=sig_type, code=code, value=value, unit=None)
            if severity:
                sig["severity"] = severity
            if type_code in (1, 2, 21):
                sig["test"] = test
            if isinstance(obj, FacilityOperation | DeviceOperation):
                sig["operator"] = obj.operator
            out.append(sig)
    return out


def to_signals(frame: Frame) -> list[Signal]:
    """Map an upload (command 2) or answer (command 5) to MinAn signal dicts.

    Signal ``type`` values: ``heartbeat`` (command 2, empty ADU), ``alarm`` (fire, supervisory;
    ``code`` = MinAn alarm type), ``fault`` (power_fault, offline, fault, isolated), ``restore``
    (reset / alarm cleared: clears the panel's active alarms), ``reading`` (analog values),
    ``event`` (recorded, not paged: linkage states, 查岗 answer) and ``malformed`` (ADU refused
    by the size check: the frame is still confirmed). Other commands give no signals.
    """
    if frame.command not in (Command.SEND, Command.ANSWER):
        return []
    if not frame.adu:
        if frame.command != Command.SEND:
            return []
        sig = _base(frame, None, None)
        sig.update(type="heartbeat", code="heartbeat", value=None, unit=None)
        return [sig]
    try:
        typed = parse_adu(frame.adu, frame.command)
    except FrameError as exc:
        sig = _base(frame, None, frame.adu[0] if frame.adu else None)
        sig.update(type="malformed", code="malformed", value=exc.detail, unit=None, raw=frame.adu.hex())
        return [sig]
    out: list[Signal] = []
    for obj in typed.objects:
        if isinstance(obj, SystemStatus | ComponentStatus | DeviceStatus):
            out += _flag_signals(frame, obj, typed.type_code, obj.flags, _STATUS_MAP)
        elif isinstance(obj, FacilityOperation | DeviceOperation):
            out += _flag_signals(frame, obj, typed.type_code, obj.flags, _OPERATION_MAP)
        elif isinstance(obj, AnalogValue):
            sig = _base(frame, obj, typed.type_code)
            spec = obj.spec
            sig.update(
                type="reading",
                code=spec.code if spec else f"analog_{obj.analog_type}",
                value=obj.value,
                unit=obj.unit,
                analog_type=obj.analog_type,
                raw_value=obj.raw_value,
                out_of_range=obj.out_of_range,
            )
            out.append(sig)
    return out


# ---------------------------------------------------------------------------------------------
# Upload builders (device -> centre), for the simulator, the benchmark and tests
# ---------------------------------------------------------------------------------------------


def flag_bits(flags: Iterable[str], names: dict[int, str]) -> int:
    """The inverse of the flag properties: ``{"normal", "fire"}`` -> ``0b11`` (unknown names raise)."""
    by_name = {name: bit for bit, name in names.items()}
    value = 0
    for flag in flags:
        if flag not in by_name:
            raise ValueError(f"unknown flag {flag!r}; known: {', '.join(sorted(by_name))}")
        value |= 1 << by_name[flag]
    return value


def encode_text(text: str, size: int = 31) -> bytes:
    """Fixed-size GB 18030 text, padded like the samples (spaces, then a trailing NUL)."""
    raw = text.encode("gb18030")
    if len(raw) > size:
        raise ValueError(f"{text!r} is {len(raw)} bytes in GB 18030, more than {size}")
    return raw.ljust(size - 1, b" ") + b"\x00" if len(raw) < size else raw


def _component_address(address: int) -> bytes:
    return address.to_bytes(4, "little")


def upload_frame(
    *,
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    type_code: int,
    objects: Iterable[bytes],
    command: int = Command.SEND,
    user_version: int = 1,
) -> Frame:
    """Command 2 (or 5 for an answer) with an ADU of ``type_code`` and the encoded objects."""
    objs = list(objects)
    adu = bytes((type_code, len(objs))) + b"".join(objs)
    return Frame(serial, 1, user_version, now, source, destination, command, adu)


def heartbeat_frame(serial: int, source: int, destination: int, now: datetime) -> Frame:
    """A heartbeat: command 2 with an empty ADU."""
    return Frame(serial, 1, 1, now, source, destination, Command.SEND, b"")


def _timed_upload(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    type_code: int,
    body: bytes,
    at: datetime | None,
) -> Frame:
    """An upload of one information object followed by its time tag (the event time, default `now`)."""
    return upload_frame(
        serial=serial, source=source, destination=destination, now=now, type_code=type_code,
        objects=[body + encode_time(at or now)],
    )  # fmt: skip


def system_status_frame(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    system_type: int,
    system_address: int,
    flags: Iterable[str],
    *,
    at: datetime | None = None,
) -> Frame:
    """Type 1: one system's status (flags named as in :data:`SYSTEM_STATUS_BITS`)."""
    body = bytes((system_type, system_address)) + flag_bits(flags, SYSTEM_STATUS_BITS).to_bytes(2, "little")
    return _timed_upload(serial, source, destination, now, 1, body, at)


def component_status_frame(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    system_type: int,
    system_address: int,
    component_type: int,
    component_address: int,
    flags: Iterable[str],
    description: str = "",
    *,
    at: datetime | None = None,
) -> Frame:
    """Type 2: one component's status. ``component_address`` is the raw uint32 (zone + point << 16)."""
    body = (
        bytes((system_type, system_address, component_type))
        + _component_address(component_address)
        + flag_bits(flags, COMPONENT_STATUS_BITS).to_bytes(2, "little")
        + encode_text(description)
    )
    return _timed_upload(serial, source, destination, now, 2, body, at)


def analog_frame(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    system_type: int,
    system_address: int,
    component_type: int,
    component_address: int,
    analog_type: int,
    raw_value: int,
    *,
    at: datetime | None = None,
) -> Frame:
    """Type 3: one analog value, ``raw_value`` an int16 (engineering value / minimum unit)."""
    body = (
        bytes((system_type, system_address, component_type))
        + _component_address(component_address)
        + bytes((analog_type,))
        + raw_value.to_bytes(2, "little", signed=True)
    )
    return _timed_upload(serial, source, destination, now, 3, body, at)


def device_status_frame(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    flags: Iterable[str],
    *,
    at: datetime | None = None,
) -> Frame:
    """Type 21: the transmission device's own status (:data:`DEVICE_STATUS_BITS`)."""
    body = bytes((flag_bits(flags, DEVICE_STATUS_BITS),))
    return _timed_upload(serial, source, destination, now, 21, body, at)


def device_operation_frame(
    serial: int,
    source: int,
    destination: int,
    now: datetime,
    flags: Iterable[str],
    operator: int = 0,
    *,
    at: datetime | None = None,
) -> Frame:
    """Type 24: an operation on the transmission device, e.g. ``{"duty_check_answer"}`` (查岗应答)."""
    body = bytes((flag_bits(flags, DEVICE_OPERATION_BITS), operator))
    return _timed_upload(serial, source, destination, now, 24, body, at)
