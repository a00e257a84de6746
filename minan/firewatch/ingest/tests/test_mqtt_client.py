"""The receiving side of the MQTT adapter without a broker: buffered reads, the PUBLISH fast path (checked
against paho's own decoding), one write for a batch's PUBACKs, and the pipelined adapter's sharding,
in-order acknowledgements and the recording loop's retries (with pipes standing in for the recording processes). The
round trips through a real broker and real recording processes are in tests/integration."""

from __future__ import annotations

import struct
import threading
from multiprocessing import Pipe
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from minan.firewatch.ingest import mqtt as adapter_module
from minan.firewatch.ingest.mqtt import BufferedSocket, IngestClient, PipelinedMqttAdapter, Stats
from minan.firewatch.ingest.recorder import Result


class FakeSocket:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.sent: list[bytes] = []
        self.reads = 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def close(self) -> None:
        pass


def test_the_buffered_socket_reads_once_and_hands_out_what_paho_asks_for() -> None:
    raw = FakeSocket([b"\x30\x07topic!!", b"more", b""])
    sock = BufferedSocket(raw)
    assert (sock.recv(1), sock.recv(1), sock.pending()) == (b"\x30", b"\x07", 7)
    assert sock.recv(100) == b"topic!!"  # no more than was read: paho asks again
    assert raw.reads == 1 and sock.pending() == 0
    assert sock.recv(2) == b"mo" and sock.recv(9) == b"re"
    assert sock.recv(1) == b""  # the broker closed the connection
    with pytest.raises(BlockingIOError):
        BufferedSocket(FakeSocket([])).recv(1)


def publish(
    topic: bytes, payload: bytes, mid: int, *, properties: bytes = b"\0", flags: int = 0x02
) -> dict[str, Any]:
    """paho's `_in_packet` for a PUBLISH (flags: dup 0x08, QoS << 1, retain 0x01)."""
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + properties + payload
    return {"command": 0x30 | flags, "packet": bytearray(body)}


def received(client: mqtt.Client, packet: dict[str, Any]) -> mqtt.MQTTMessage:
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, message: got.append(message)
    client._in_packet = packet  # type: ignore[assignment]
    assert client._handle_publish() == mqtt.MQTT_ERR_SUCCESS
    (message,) = got
    return message


def clients() -> tuple[mqtt.Client, IngestClient]:
    kwargs: dict[str, Any] = {"client_id": "t", "protocol": mqtt.MQTTv5, "manual_ack": True}
    return mqtt.Client(CallbackAPIVersion.VERSION2, **kwargs), IngestClient(
        CallbackAPIVersion.VERSION2, **kwargs
    )


@pytest.mark.parametrize("flags", [0x02, 0x0A, 0x03])  # QoS 1; duplicate; retained
def test_the_publish_fast_path_decodes_what_paho_decodes(flags: int) -> None:
    paho, ours = clients()
    packet = publish("minan/v1/devices/设备-1/signals".encode(), b'{"type": "heartbeat"}', 4242, flags=flags)
    expected = received(paho, dict(packet, packet=bytearray(packet["packet"])))
    message = received(ours, packet)
    assert (message.topic, message.payload, message.mid, message.qos, message.dup, message.retain) == (
        expected.topic, expected.payload, expected.mid, expected.qos, expected.dup, expected.retain,
    )  # fmt: skip
    assert message.topic == "minan/v1/devices/设备-1/signals" and message.mid == 4242
    assert message.properties is None  # not built: nobody reads them


def test_a_publish_with_properties_or_another_qos_is_left_to_paho() -> None:
    _paho, ours = clients()
    # Payload Format Indicator (1) = 1: decoded by paho, so the property is there.
    message = received(ours, publish(b"t/1", b"x", 7, properties=b"\x02\x01\x01"))
    assert message.properties is not None and message.properties.PayloadFormatIndicator == 1  # type: ignore[attr-defined]
    assert message.payload == b"x"
    qos0 = {"command": 0x30, "packet": bytearray(struct.pack("!H", 3) + b"t/2" + b"\0" + b"y")}
    assert (received(ours, qos0).qos, received(ours, qos0).payload) == (0, b"y")


def test_a_batch_is_acknowledged_with_one_write_of_all_its_pubacks() -> None:
    _paho, ours = clients()
    sock = FakeSocket([])
    ours._sock = sock  # type: ignore[assignment]
    ours.ack_all([1, 2, 300])
    assert sock.sent == [b"\x40\x02\x00\x01" + b"\x40\x02\x00\x02" + b"\x40\x02\x01\x2c"]
    ours.ack_all([])
    assert len(sock.sent) == 1


# --- the pipelined adapter, recording processes played by pipes ---------------------------------------------------


class Acks:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def ack_all(self, mids: list[int]) -> None:
        self.batches.append(list(mids))


def adapter(recorders: int, *, fast_lane: bool = False) -> tuple[PipelinedMqttAdapter, list[Any]]:
    """The adapter without its broker connection and child processes; returns the children's pipe ends
    (the batch lane's, then the fast lane's)."""
    a = PipelinedMqttAdapter.__new__(PipelinedMqttAdapter)
    pipes = [Pipe() for _ in range(recorders * (2 if fast_lane else 1))]
    a._lanes([SimpleNamespace(conn=parent) for parent, _child in pipes], recorders)
    a.stats = Stats()
    a.stopping = threading.Event()
    a.client = Acks()  # type: ignore[assignment]
    return a, [child for _parent, child in pipes]


def message(mid: int, serial: str, payload: str = "") -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(mid, f"minan/v1/devices/{serial}/signals".encode())
    m.qos, m.payload = 1, (payload or f'{{"n": {mid}}}').encode()
    return m


def receive(a: PipelinedMqttAdapter, messages: list[mqtt.MQTTMessage], *, batch: bool = True) -> None:
    """What paho hands the adapter as it reads, then (`batch`) the batch window ending."""
    for m in messages:
        a._on_message(None, None, m)  # type: ignore[arg-type]
    if batch:
        a._dispatch(float("inf"))


def test_a_batch_is_split_by_device_and_acknowledged_in_order_when_every_part_is_committed() -> None:
    a, children = adapter(2)
    serials = [f"D-{n}" for n in range(12)]
    first = [message(n + 1, serials[n % 12]) for n in range(24)]
    second = [message(n + 101, serials[n % 12]) for n in range(12)]
    receive(a, first)
    receive(a, second)
    parts = [[child.recv(), child.recv()] if child.poll() else [] for child in children]
    assert all(parts), "both recording processes got a part of each batch"
    for got in parts:  # every device's messages in one process, in the order received
        for batch in got:
            topics = {topic for topic, _payload in batch}
            other = [t for p in parts if p is not got for b in p for t, _ in b]
            assert not topics & set(other)
    assert sorted(p for got in parts for p, _ in got[0]) == sorted(m.topic for m in first)

    # The second process commits both its parts; the first is still at work: nothing acknowledged.
    children[1].send([""] * len(parts[1][0]))
    children[1].send(["unknown_device"] + [""] * (len(parts[1][1]) - 1))
    a._collect()
    assert a.client.batches == [] and a.in_flight == 2  # type: ignore[attr-defined]

    children[0].send([""] * len(parts[0][0]))
    children[0].send([""] * len(parts[0][1]))
    a._collect()
    assert a.client.batches == [[m.mid for m in first + second]]  # type: ignore[attr-defined]
    assert (a.stats.received, a.stats.recorded, a.stats.rejected, a.stats.batches) == (36, 35, 1, 2)
    assert not a.unacked and not a.in_flight and not any(a.parts)


def test_a_topic_that_is_not_utf8_is_refused_not_fatal() -> None:
    a, (child,) = adapter(1)
    bad = mqtt.MQTTMessage(5, b"minan/v1/devices/\xff/signals")
    bad.qos, bad.payload = 1, b"{}"
    receive(a, [bad])
    assert child.recv() == [("", b"{}")]
    child.send(["refused:topic"])
    a._collect()
    assert a.client.batches == [[5]] and a.stats.rejected == 1  # type: ignore[attr-defined]


def test_the_recording_process_retries_a_failed_batch_before_the_next_and_answers_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    class FlakyRecorder:
        def record_fresh(self, items: list[Any], *, urgent_first: bool = False) -> list[Result]:
            calls.append([i.signal.message_id for i in items])
            if len(calls) == 2:  # the second batch's first attempt: the database is gone
                raise RuntimeError("connection refused")
            return [Result() for _ in items]

        def forget(self) -> None:
            calls.append(["forgot"])

    monkeypatch.setattr(adapter_module, "Recorder", FlakyRecorder)
    monkeypatch.setattr(adapter_module, "RETRY_DELAY", 0.001)
    parent, child = Pipe()
    worker = threading.Thread(target=adapter_module._record_forever, args=(child,))
    worker.start()
    signal = '{{"type": "reading", "code": "t", "value": 1, "message_id": "{}"}}'
    for batch in (["a"], ["b", "c"], ["d"]):
        parent.send(
            [("minan/v1/devices/D-1/signals", signal.format(m).encode()) for m in batch] + [("x", b"")]
        )
    answers = [parent.recv() for _ in range(3)]
    parent.close()
    worker.join(5)
    assert answers == [["", "refused:topic"], ["", "", "refused:topic"], ["", "refused:topic"]]
    assert calls == [["a"], ["b", "c"], ["forgot"], ["b", "c"], ["d"]]


def test_the_recording_loop_ends_when_asked_to_stop() -> None:
    parent, child = Pipe()
    worker = threading.Thread(target=adapter_module._record_forever, args=(child,))
    worker.start()
    parent.send(None)  # what RecorderProcess.stop sends: the process ends although its pipe stays open
    worker.join(5)
    assert not worker.is_alive()
