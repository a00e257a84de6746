"""The MQTT adapter's alarm session, without a broker: it acknowledges everything it reads at once and
in order and sends its alarms to the fast lane; each alarm is recorded once whichever session brings it
first, and the main session's copy is acknowledged only once that is committed; a restore the alarm
session sees keeps its device's later alarms for the main session until the restore is committed there. Recording processes
are played by pipes; the round trip through a real broker is in tests/integration."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from minan.firewatch.ingest import mqtt as adapter_module
from minan.firewatch.ingest.mqtt import (
    AlarmSession,
    BufferedSocket,
    IngestClient,
    PipelinedMqttAdapter,
    parse_url,
)

from .test_mqtt_client import Acks, FakeSocket, adapter, message, receive
from .test_mqtt_fast_lane import FIRE, READING, RESTORE_ALL, _publish


def with_alarm_session(recorders: int = 1) -> tuple[PipelinedMqttAdapter, AlarmSession, list[Any]]:
    a, children = adapter(recorders, fast_lane=True)
    a.broker = parse_url("mqtt://127.0.0.1:1883")
    session = a.alarm_session = AlarmSession(a, "ingest-alarms", adapter_module.TOPIC)
    session.client = Acks()  # type: ignore[assignment]
    return a, session, children


def early(session: AlarmSession, messages: list[Any]) -> None:
    """What paho hands the alarm session as it reads, then the adapter's acknowledging."""
    for m in messages:
        session._on_message(None, None, m)  # type: ignore[arg-type]
    session.adapter._collect()


def ids(part: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(payload)["message_id"] for _topic, payload in part]


def acks(client: Any) -> list[int]:
    return [mid for batch in client.batches for mid in batch]


def test_the_alarm_session_acknowledges_everything_at_once_and_sends_its_alarms_to_the_fast_lane() -> None:
    a, session, (batch_lane, fast_lane) = with_alarm_session()
    backlog = [message(n, f"D-{n % 50}", READING.format(n)) for n in range(1, 70_001)]
    fire = message(70_001, "F-1", FIRE.format(1))
    after = [message(n, "D-1", READING.format(n)) for n in range(70_002, 70_011)]
    early(session, [*backlog, fire, *after])

    assert ids(fast_lane.recv()) == ["f-1"]  # found behind 70,000 readings, more than the main window
    assert not batch_lane.poll()  # the alarm session records nothing else
    # In order, the alarm before it is committed: the main session's copy is what waits for the commit.
    assert acks(session.client) == list(range(1, 70_011))
    assert not a.unacked and not a.stats.received  # the main session has not read its copies yet
    receive(a, [message(1, "F-1", FIRE.format(1))])
    a._collect()
    assert a.client.batches == [] and not fast_lane.poll()  # type: ignore[attr-defined]
    fast_lane.send([""])
    a._collect()
    assert a.client.batches == [[1]]  # type: ignore[attr-defined]


def test_the_main_sessions_copy_of_an_alarm_recorded_early_takes_its_result_instead_of_being_recorded() -> (
    None
):
    a, session, (batch_lane, fast_lane) = with_alarm_session()
    early(session, [message(9, "F-1", FIRE.format(1))])
    assert ids(fast_lane.recv()) == ["f-1"]

    # The main session: the same alarm behind a reading, while the early copy is being recorded.
    receive(a, [message(1, "D-1", READING.format(1)), message(2, "F-1", FIRE.format(1))])
    assert ids(batch_lane.recv()) == ["r-1"]
    assert not fast_lane.poll()  # not sent again
    assert acks(session.client) == [9]
    fast_lane.send(["unknown_device"])  # the early copy is refused: so is the main session's
    batch_lane.send([""])
    a._collect()
    assert a.client.batches == [[1, 2]]  # type: ignore[attr-defined]
    assert (a.stats.recorded, a.stats.rejected) == (1, 1)

    # Committed already when the main session's copy comes: done at once.
    early(session, [message(10, "F-2", FIRE.format(2))])
    fast_lane.recv()
    fast_lane.send([""])
    a._collect()
    receive(a, [message(3, "F-2", FIRE.format(2))])
    a._collect()
    assert not fast_lane.poll() and a.client.batches[-1] == [3]  # type: ignore[attr-defined]
    assert not (a.twins or a.fast_open or a.unacked or session.ready)


def test_when_the_main_session_brings_an_alarm_first_the_alarm_sessions_copy_is_not_recorded_again() -> None:
    a, session, (_batch_lane, fast_lane) = with_alarm_session()
    receive(a, [message(1, "F-1", FIRE.format(1))])
    assert ids(fast_lane.recv()) == ["f-1"]
    early(session, [message(5, "F-1", FIRE.format(1)), message(6, "D-1", READING.format(6))])
    assert not fast_lane.poll() and acks(session.client) == [5, 6]
    assert a.client.batches == []  # type: ignore[attr-defined]
    fast_lane.send([""])
    a._collect()
    assert a.client.batches == [[1]] and not a.twins  # type: ignore[attr-defined]


def test_the_same_bytes_twice_on_one_session_are_two_messages() -> None:
    """A device may send the same alarm without an id twice: each copy pairs with one of the other
    session's."""
    a, session, (_batch_lane, fast_lane) = with_alarm_session()
    same = '{"type": "alarm", "code": "fire"}'
    early(session, [message(1, "F-1", same), message(2, "F-1", same)])
    assert len(fast_lane.recv()) == 1 and len(fast_lane.recv()) == 1
    receive(a, [message(7, "F-1", same), message(8, "F-1", same)])
    assert not fast_lane.poll()
    fast_lane.send([""])
    fast_lane.send([""])
    a._collect()
    assert a.client.batches == [[7, 8]]  # type: ignore[attr-defined]


def test_a_restore_keeps_its_devices_later_alarms_for_the_main_session_until_it_is_committed_there() -> None:
    """An alarm after a restore recorded early would be cleared when the main session records the
    restore."""
    a, session, (batch_lane, fast_lane) = with_alarm_session()
    early(session, [
        message(1, "D-1", FIRE.format(1)),  # before the restore: early
        message(2, "D-1", RESTORE_ALL.format(2)),
        message(3, "D-1", FIRE.format(3)),  # after it: the main session's
        message(4, "E-1", FIRE.format(4)),  # another device: early
    ])  # fmt: skip
    assert ids(fast_lane.recv()) == ["f-1"] and ids(fast_lane.recv()) == ["f-4"] and not fast_lane.poll()
    assert a.blocked == {"minan/v1/devices/D-1/signals": 1}

    receive(a, [message(1, "D-1", READING.format(0)), message(2, "D-1", FIRE.format(1)),
                message(3, "D-1", RESTORE_ALL.format(2)), message(4, "D-1", FIRE.format(3))])  # fmt: skip
    fast_lane.send([""])  # f-1 (both copies)
    fast_lane.send([""])  # f-4
    a._collect()
    assert ids(batch_lane.recv()) == ["r-0"]
    batch_lane.send([""])
    a._collect()  # the restore waited for the device's reading: now it goes, with the alarm after it
    assert ids(fast_lane.recv()) == ["c-2", "f-3"]
    assert a.blocked  # until committed
    early(session, [message(5, "D-1", FIRE.format(5))])
    assert not fast_lane.poll()  # still the main session's
    fast_lane.send(["", ""])
    a._collect()
    assert not a.blocked
    early(session, [message(6, "D-1", FIRE.format(6))])
    assert ids(fast_lane.recv()) == ["f-6"]  # early again


def test_a_restore_the_main_session_committed_before_blocks_nothing() -> None:
    a, session, (batch_lane, fast_lane) = with_alarm_session()
    receive(a, [message(1, "D-1", RESTORE_ALL.format(1))])
    assert ids(fast_lane.recv()) == ["c-1"]
    fast_lane.send([""])
    a._collect()
    early(session, [message(4, "D-1", RESTORE_ALL.format(1)), message(5, "D-1", FIRE.format(5))])
    assert not a.blocked and ids(fast_lane.recv()) == ["f-5"]
    assert acks(session.client) == [4, 5]


def test_a_restore_whose_main_copy_never_comes_blocks_its_device_only_for_a_while() -> None:
    a, session, (_batch_lane, fast_lane) = with_alarm_session()
    early(session, [message(1, "D-1", RESTORE_ALL.format(1))])
    (marker,) = [item for waiting in a.twins.values() for item in waiting]
    now = marker.since + adapter_module.TWIN_SECONDS - 1
    a._prune_twins(now)
    assert a.blocked
    a._prune_twins(now + 11)  # (pruning looks every 10 s)
    assert not a.blocked and not a.twins
    early(session, [message(2, "D-1", FIRE.format(2))])
    assert ids(fast_lane.recv()) == ["f-2"]


class Reconnecting(Acks):
    def subscribe(self, topic: str, qos: int) -> None:
        self.subscribed = (topic, qos)


def test_what_the_alarm_session_read_before_a_reconnection_is_not_acknowledged_after_it() -> None:
    """The broker sends it again on the new connection, where its ids may name other messages."""
    a, session, (_batch_lane, fast_lane) = with_alarm_session()
    session.client = Reconnecting()  # type: ignore[assignment]
    for m in [message(1, "D-1", READING.format(1)), message(2, "F-1", FIRE.format(2))]:
        session._on_message(None, None, m)  # type: ignore[arg-type]
    assert ids(fast_lane.recv()) == ["f-2"]
    session._on_connect(session.client, None, SimpleNamespace(session_present=True),
                        SimpleNamespace(is_failure=False), None)  # fmt: skip
    early(session, [message(1, "D-2", READING.format(10))])
    assert acks(session.client) == [1] and session.connection == 1
    assert session.client.subscribed == (adapter_module.TOPIC, 1)  # type: ignore[attr-defined]


def test_the_alarm_session_subscribes_to_the_topic_or_its_own_share_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapter_module, "RecorderProcess", lambda **_kw: object())
    monkeypatch.setattr(adapter_module, "_warm_up", lambda: None)
    plain = PipelinedMqttAdapter("mqtt://127.0.0.1:1", client_id="ingest-1", fast_lane=True)
    assert plain.alarm_session is not None
    assert (plain.alarm_session.client_id, plain.alarm_session.topic) == (
        "ingest-1-alarms",
        adapter_module.TOPIC,
    )
    shared = PipelinedMqttAdapter(
        "mqtt://127.0.0.1:1", client_id="ingest-2", share_group="minan", fast_lane=True
    )
    assert shared.alarm_session is not None
    assert shared.alarm_session.topic == f"$share/minan-alarms/{adapter_module.TOPIC}"
    off = PipelinedMqttAdapter(
        "mqtt://127.0.0.1:1", client_id="ingest-3", fast_lane=True, alarm_session=False
    )
    sqlite = PipelinedMqttAdapter("mqtt://127.0.0.1:1", client_id="ingest-4", fast_lane=False)
    assert off.alarm_session is None and sqlite.alarm_session is None


def test_the_alarm_sessions_reading_decodes_only_what_may_be_an_alarm_and_keeps_every_id_in_order() -> None:
    """Payloads without "alarm", "fault" or "restore" are only acknowledged, straight from the read
    buffer; the rest (a reading that merely mentions an alarm too) is decoded and judged by its type."""
    a, session, (_batch_lane, fast_lane) = with_alarm_session()
    client = IngestClient(
        CallbackAPIVersion.VERSION2, client_id="t-alarms", protocol=mqtt.MQTTv5, manual_ack=True
    )
    client.sift, client.passed = adapter_module._MAYBE_FAST.search, session.ready  # as AlarmSession sets them
    decoded: list[int] = []

    def on_message(c: Any, u: Any, m: mqtt.MQTTMessage) -> None:
        decoded.append(m.mid)
        session._on_message(c, u, m)

    client.on_message = on_message
    mention = '{"type": "reading", "code": "alarm", "value": 1, "message_id": "m-7"}'
    packets = [
        _publish(f"minan/v1/devices/D-{n}/signals".encode(), n, READING.format(n).encode())
        for n in range(1, 7)
    ] + [
        _publish(b"minan/v1/devices/D-7/signals", 7, mention.encode()),
        _publish(b"minan/v1/devices/F-1/signals", 8, FIRE.format(8).encode()),
        _publish(b"minan/v1/devices/D-9/signals", 9, b'{"type": "heartbeat"}'),
        _publish(b"minan/v1/devices/D-10/signals", 10, RESTORE_ALL.format(10).encode()),
    ]
    stream = b"".join(packets)
    raw = FakeSocket([stream[:100], stream[100:]])  # a packet split across two reads
    client._sock = BufferedSocket(raw)
    while raw.chunks or client._sock.pending():
        assert client.loop_read() == 0
    # (the first packet, split across the reads, went through paho's own reading, which decodes all)
    assert decoded == [1, 7, 8, 10]
    assert ids(fast_lane.recv()) == ["f-8"] and not fast_lane.poll()
    assert a.blocked == {"minan/v1/devices/D-10/signals": 1}
    assert session.ready == list(range(1, 11))
    session.acknowledge()
    assert acks(session.client) == list(range(1, 11)) and session.received == 10


def test_the_main_session_connects_once_the_alarm_session_has_read_its_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    monkeypatch.setattr(adapter_module, "RecorderProcess", lambda **_kw: object())
    monkeypatch.setattr(adapter_module, "_warm_up", lambda: None)
    monkeypatch.setattr(adapter_module.MqttAdapter, "start", lambda self: started.append("main"))
    monkeypatch.setattr(AlarmSession, "start", lambda self: started.append("alarms"))
    a = PipelinedMqttAdapter("mqtt://127.0.0.1:1", client_id="ingest-1", fast_lane=True)
    session = a.alarm_session
    assert session is not None
    a.start()
    assert started == ["alarms"] and a.main_due > 0
    a._end_head_start()
    assert started == ["alarms"]  # not connected yet
    session.connected_at = time.monotonic()
    session.last_read = session.connected_at - adapter_module.HEAD_START_QUIET / 2
    a._end_head_start()
    assert started == ["alarms"]  # still reading its queue
    session.last_read -= adapter_module.HEAD_START_QUIET
    a._end_head_start()
    assert started == ["alarms", "main"] and not a.main_due

    # The alarm session never gets connected (an ACL refuses its client id): the main session after
    # HEAD_START all the same.
    started.clear()
    b = PipelinedMqttAdapter("mqtt://127.0.0.1:1", client_id="ingest-2", fast_lane=True)
    b.start()
    b.main_due = time.monotonic() - 0.01
    b._end_head_start()
    assert started == ["alarms", "main"]

    # A shared subscription, lost at a broker restart, is not left waiting: both at once.
    started.clear()
    c = PipelinedMqttAdapter("mqtt://127.0.0.1:1", client_id="ingest-3", share_group="minan", fast_lane=True)
    c.start()
    assert started == ["alarms", "main"] and not c.main_due
