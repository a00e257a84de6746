"""The MQTT adapter's fast lane for alarms, without a broker: how a message is
classified, that an alarm received behind a batch of readings is sent for recording at once and
recorded before them, that PUBACKs still go out in the order received and only after commit, and that
a device's order holds across the two lanes. Recording processes are played by pipes (and by the
recording loop in a thread); the round trip through a real broker is in tests/integration."""

from __future__ import annotations

import itertools
import json
import struct
import threading
from multiprocessing import Pipe
from typing import Any

import pytest

from minan.firewatch.ingest import mqtt as adapter_module
from minan.firewatch.ingest.mqtt import ALARM, HEARTBEAT, OTHER, RESTORE, BufferedSocket, lane_kind
from minan.firewatch.ingest.recorder import Result

from .test_mqtt_client import FakeSocket, adapter, clients, message, receive

READING = '{{"type": "reading", "code": "temperature", "value": 21, "message_id": "r-{}"}}'
FIRE = '{{"type": "alarm", "code": "fire", "message_id": "f-{}"}}'
RESTORE_ALL = '{{"type": "restore", "message_id": "c-{}"}}'


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b'{"type": "alarm", "code": "fire"}', ALARM),
        (b'{"message_id": "x", "type":"fault", "code": "E1"}', ALARM),
        (b'{"type" :\n "restore"}', RESTORE),
        (b'{"type": "heartbeat"}', HEARTBEAT),
        (b'{"type": "reading", "code": "alarm", "value": "fault"}', OTHER),  # the words elsewhere
        (b'{"type": "event", "code": "door"}', OTHER),
        (b'{"code": "type", "type": "alarm"}', ALARM),  # "type" as a value first
        (b'{"x\\"type": "alarm"}', OTHER),  # a key ending in "type": the parse says no type
        (b'{"type": "alarm", "type": "reading"}', OTHER),  # the parse keeps the last, like parse_signal
        (b'{"typ\\u0065": "alarm"}', OTHER),  # spelled with an escape: unclear, batched
        (b'{"type": "alarm", oops', OTHER),  # not JSON: refused later, wherever it goes
        (b"not json", OTHER),
        (b'{"type": "alarm", "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", OTHER),  # too deep to parse
        (b"", OTHER),
    ],
)
def test_a_message_is_classified_by_its_type_member(payload: bytes, kind: int) -> None:
    assert lane_kind(payload) == kind


def test_an_alarm_behind_2000_readings_goes_to_the_fast_lane_at_once_and_is_acknowledged_after_them() -> None:
    a, (batch_lane, fast_lane) = adapter(1, fast_lane=True)
    before = [message(n, f"D-{n % 50}", READING.format(n)) for n in range(1, 2001)]
    fire = message(2001, "F-1", FIRE.format(1))
    after = [message(n, f"D-{n % 50}", READING.format(n)) for n in range(2002, 2102)]
    receive(a, [*before, fire, *after], batch=False)  # read in one go; the batch window is still open

    assert fast_lane.poll() and fast_lane.recv() == [("minan/v1/devices/F-1/signals", fire.payload)]
    assert not batch_lane.poll()  # the readings wait for their batch; the alarm did not wait for them
    parts: list[Any] = []
    reader = threading.Thread(target=lambda: parts.extend([batch_lane.recv(), batch_lane.recv()]))
    reader.start()  # (a pipe holds less than a batch)
    a._dispatch(float("inf"))
    reader.join(5)
    first, second = parts
    assert [len(first), len(second)] == [2000, 100]
    assert all(b'"reading"' in payload for _topic, payload in first + second)

    # The alarm is committed first: not acknowledged while a reading received before it is not.
    fast_lane.send([""])
    a._collect()
    assert a.client.batches == []  # type: ignore[attr-defined]
    batch_lane.send([""] * 2000)
    a._collect()
    assert a.client.batches == [list(range(1, 2002))]  # type: ignore[attr-defined]  # in order, the alarm last
    batch_lane.send([""] * 100)
    a._collect()
    assert a.client.batches[-1] == list(range(2002, 2102))  # type: ignore[attr-defined]
    assert (a.stats.received, a.stats.recorded) == (2101, 2101)
    assert not (a.unacked or a.batched_open or a.fast_open or a.held or any(a.parts))


def test_readings_committed_before_the_alarm_wait_for_its_commit_to_be_acknowledged() -> None:
    a, (batch_lane, fast_lane) = adapter(1, fast_lane=True)
    receive(a, [message(1, "D-1", READING.format(1)), message(2, "F-1", FIRE.format(1)),
                message(3, "D-1", READING.format(3))])  # fmt: skip
    assert len(fast_lane.recv()) == 1 and len(batch_lane.recv()) == 2
    batch_lane.send(["", ""])
    a._collect()
    assert a.client.batches == [[1]]  # type: ignore[attr-defined]  # never past the uncommitted alarm
    fast_lane.send(["unknown_device"])
    a._collect()
    assert a.client.batches == [[1], [2, 3]]  # type: ignore[attr-defined]
    assert (a.stats.recorded, a.stats.rejected) == (2, 1)


def test_an_alarm_is_recorded_while_its_batch_of_readings_is_still_being_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recording loops (in threads here): the batch lane's recorder is stuck in 2,000 readings until
    the alarm received after them has been recorded by the fast lane's."""
    alarm_recorded = threading.Event()
    order: list[str] = []

    class SlowRecorder:
        def record(self, items: list[Any], *, urgent_first: bool = False) -> list[Result]:
            return self.record_fresh(items, urgent_first=urgent_first)  # the fast lane's

        def record_fresh(self, items: list[Any], *, urgent_first: bool = False) -> list[Result]:
            types = {i.signal.type for i in items}
            if types == {"alarm"}:
                order.append("alarm")
                alarm_recorded.set()
            else:
                assert alarm_recorded.wait(5), "the alarm waited for the readings"
                order.append(f"{len(items)} readings")
            return [Result() for _ in items]

        def forget(self) -> None:
            pass

    monkeypatch.setattr(adapter_module, "Recorder", SlowRecorder)
    a, children = adapter(1, fast_lane=True)
    workers = [threading.Thread(target=adapter_module._record_forever, args=(child, fast))
               for child, fast in zip(children, (False, True), strict=True)]  # fmt: skip
    for worker in workers:
        worker.start()
    try:
        receive(a, [message(n, f"D-{n % 50}", READING.format(n)) for n in range(1, 2001)])  # a full batch
        receive(a, [message(2001, "F-1", FIRE.format(1))], batch=False)
        for _ in range(200):
            a._collect()
            if not a.unacked:
                break
            threading.Event().wait(0.02)
        assert order == ["alarm", "2000 readings"]
        assert a.client.batches[-1][-1] == 2001 and a.stats.recorded == 2001  # type: ignore[attr-defined]
    finally:
        for parent in a.recorder_processes:
            parent.conn.send(None)
        for worker in workers:
            worker.join(5)


def test_a_restore_waits_for_its_devices_readings_received_before_it_and_what_follows_waits_with_it() -> None:
    a, (batch_lane, fast_lane) = adapter(1, fast_lane=True)
    receive(a, [message(1, "D-1", READING.format(1)), message(2, "E-1", READING.format(2))], batch=False)
    receive(a, [
        message(3, "D-1", RESTORE_ALL.format(3)),  # may clear what reading 1 raises: held
        message(4, "E-1", FIRE.format(4)),  # an alarm commutes with its device's readings: at once
        message(5, "D-1", FIRE.format(5)),  # behind its device's held restore
        message(6, "D-1", READING.format(6)),  # follows its device's fast-lane signals
        message(7, "D-1", '{"type": "heartbeat"}'),  # liveness only: batched
    ], batch=False)  # fmt: skip
    assert [payload for _t, payload in fast_lane.recv()] == [FIRE.format(4).encode()]
    assert not fast_lane.poll()
    a._dispatch(float("inf"))
    assert [json.loads(p).get("message_id") for _t, p in batch_lane.recv()] == ["r-1", "r-2", None]
    fast_lane.send([""])
    a._collect()
    assert not fast_lane.poll()  # reading 1 is not committed yet
    batch_lane.send(["", "", ""])
    a._collect()
    released = fast_lane.recv()  # now, in the order received, in one part
    assert [json.loads(p)["message_id"] for _t, p in released] == ["c-3", "f-5", "r-6"]
    assert a.client.batches == [[1, 2]]  # type: ignore[attr-defined]  # 3 is not committed
    fast_lane.send(["", "", ""])
    a._collect()
    assert a.client.batches == [[1, 2], [3, 4, 5, 6, 7]]  # type: ignore[attr-defined]
    assert not (a.unacked or a.batched_open or a.fast_open or a.held)


def test_a_devices_alarm_and_its_clear_go_to_the_same_fast_process_in_order() -> None:
    a, children = adapter(2, fast_lane=True)
    batch_lanes, fast_lanes = children[:2], children[2:]
    serials = [f"S-{n}" for n in range(20)]
    stream = []
    for n, serial in enumerate(serials):
        stream += [message(3 * n + 1, serial, FIRE.format(n)), message(3 * n + 2, serial, RESTORE_ALL.format(n)),
                   message(3 * n + 3, serial, READING.format(n))]  # fmt: skip
    receive(a, stream)
    assert not any(lane.poll() for lane in batch_lanes)  # the readings followed their device's alarm
    got: dict[str, list[str]] = {}
    lanes_of: dict[str, set[int]] = {}
    for index, lane in enumerate(fast_lanes):
        while lane.poll():
            for topic, payload in lane.recv():
                got.setdefault(topic, []).append(json.loads(payload)["message_id"])
                lanes_of.setdefault(topic, set()).add(index)
    assert all(len(lanes) == 1 for lanes in lanes_of.values())
    assert {len(lanes) for lanes in [set().union(*lanes_of.values())]} == {2}  # both processes used
    for n, serial in enumerate(serials):
        assert got[f"minan/v1/devices/{serial}/signals"] == [f"f-{n}", f"c-{n}", f"r-{n}"]


def test_a_device_reading_goes_back_to_the_batches_once_its_fast_lane_signals_are_committed() -> None:
    a, (batch_lane, fast_lane) = adapter(1, fast_lane=True)
    receive(a, [message(1, "D-1", FIRE.format(1))])
    assert len(fast_lane.recv()) == 1
    fast_lane.send([""])
    a._collect()
    receive(a, [message(2, "D-1", READING.format(2))])
    assert len(batch_lane.recv()) == 1 and not fast_lane.poll()


def test_without_the_fast_lane_alarms_are_batched_with_the_rest() -> None:
    a, (batch_lane,) = adapter(1)  # SQLite: one writer at a time
    receive(a, [message(1, "D-1", READING.format(1)), message(2, "F-1", FIRE.format(2))])
    assert len(batch_lane.recv()) == 2 and not a.fast_open and not a.batched_open


def test_the_fast_recording_loop_records_every_waiting_part_at_once_and_answers_each() -> None:
    calls: list[int] = []

    class CountingRecorder:
        def record_fresh(self, items: list[Any], *, urgent_first: bool = False) -> list[Result]:
            raise AssertionError("the fast lane keeps its connection: no check before each part")

        def record(self, items: list[Any], *, urgent_first: bool = False) -> list[Result]:
            calls.append(len(items))
            return [Result(error="unknown_device" if i.key.serial == "NOPE" else "") for i in items]

        def forget(self) -> None:
            pass

    parent, child = Pipe()
    for serials in (["A"], ["NOPE", "B"], ["C"]):
        parent.send([(f"minan/v1/devices/{s}/signals", FIRE.format(s).encode()) for s in serials])
    parent.send(None)
    original = adapter_module.Recorder
    adapter_module.Recorder = CountingRecorder  # type: ignore[misc,assignment]
    try:
        worker = threading.Thread(target=adapter_module._record_forever, args=(child, True))
        worker.start()
        worker.join(5)
    finally:
        adapter_module.Recorder = original  # type: ignore[misc]
    assert not worker.is_alive()  # asked to stop: after answering what came before
    assert calls == [4]
    assert [parent.recv() for _ in range(3)] == [[""], ["unknown_device", ""], [""]]


# --- reading a backlog fast: PUBLISH packets decoded straight from the read buffer -----------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(
    topic: bytes, mid: int, payload: bytes, *, header: int = 0x32, properties: bytes = b"\0"
) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + properties + payload
    return bytes([header]) + _varint(len(body)) + body


def _read_all(client: Any, chunks: list[bytes]) -> list[tuple[Any, ...]]:
    """Feed a byte stream in these chunks through the client's reading: what on_message got."""
    got: list[tuple[Any, ...]] = []
    client.on_message = lambda _c, _u, m: got.append((m._topic, m.payload, m.mid, m.qos, m.dup, m.retain))
    raw = FakeSocket(list(chunks))
    client._sock = BufferedSocket(raw)  # (stock paho too: the fake socket ignores the size asked for)
    for _ in range(10_000):
        if not raw.chunks and not client._sock.pending():
            break
        assert client.loop_read() == 0
    return got


def test_the_bulk_decoder_reads_a_stream_as_paho_does_and_leaves_it_what_it_does_not_take() -> None:
    big = b'{"type": "reading", "value": "' + b"x" * 300 + b'"}'  # a remaining length of two bytes
    packets = [
        _publish("minan/v1/devices/设备-1/signals".encode(), 1, FIRE.format(1).encode()),
        _publish(b"minan/v1/devices/D-2/signals", 2, big),
        _publish(b"minan/v1/devices/D-3/signals", 3, b'{"type": "heartbeat"}', header=0x3B),  # dup, retain
        _publish(b"minan/v1/devices/D-4/signals", 4, b"x", properties=b"\x02\x01\x01"),  # properties: paho's
        _publish(b"minan/v1/devices/D-5/signals", 5, b""),  # empty payload
        bytes([0x30])
        + _varint(7)
        + struct.pack("!H", 3)
        + b"t/0"
        + b"\0"
        + b"y",  # QoS 0: paho's (no message id)
        _publish(b"minan/v1/devices/\xff/signals", 6, b"{}"),  # not UTF-8: paho's
    ] + [
        _publish(f"minan/v1/devices/D-{n}/signals".encode(), n, READING.format(n).encode())
        for n in range(7, 400)
    ]
    stream = b"".join(packets)
    cuts = [0, 7, 500, 501, 2048, 9000, 20000, len(stream)]  # packets split across reads, anywhere
    chunks = [stream[a:b] for a, b in itertools.pairwise(cuts)]
    paho, ours = clients()
    expected = _read_all(paho, chunks)
    got = _read_all(ours, chunks)
    assert len(expected) == 400 and got == expected
    assert ours._last_bytes_received > 0


def test_the_bulk_decoder_takes_a_whole_read_at_once() -> None:
    _paho, ours = clients()
    stream = b"".join(
        _publish(b"minan/v1/devices/D-1/signals", n, b'{"type": "heartbeat"}') for n in range(1, 201)
    )
    raw = FakeSocket([stream])
    ours._sock = BufferedSocket(raw)
    got: list[int] = []
    ours.on_message = lambda _c, _u, m: got.append(m.mid)
    assert ours.loop_read() == 0
    assert got == list(range(1, 201)) and raw.reads == 1


def test_messages_of_a_lost_connection_are_recorded_but_not_acknowledged_on_the_next() -> None:
    """The broker sends them again on the new connection, where their ids may already name other
    messages: a PUBACK for an old id could acknowledge one not yet committed."""
    a, (batch_lane, fast_lane) = adapter(1, fast_lane=True)
    receive(a, [message(7, "D-1", READING.format(7)), message(8, "F-1", FIRE.format(8))])
    assert len(batch_lane.recv()) == 1 and len(fast_lane.recv()) == 1
    a.connection += 1  # what `_on_connect` counts: the connection was lost and made again
    receive(a, [message(7, "D-2", READING.format(70))])  # id 7 given to another message
    assert len(batch_lane.recv()) == 1
    batch_lane.send([""])
    fast_lane.send([""])
    batch_lane.send([""])
    a._collect()
    assert a.client.batches == [[7]]  # type: ignore[attr-defined]  # the new message 7 only
    assert (a.stats.received, a.stats.recorded) == (3, 3) and not a.unacked
