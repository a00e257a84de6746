"""The MQTT adapter of `minan ingest` (issue 8 item 2).

Devices (or gateways) publish one JSON signal per message to `minan/v1/devices/<serial>/signals` at
QoS 1 (docs/firewatch.md gives the payload). The adapter:
- connects with MQTT 5, a fixed client id and a persistent session (clean start off, session expiry
  `SESSION_EXPIRY`), so messages published while it is down are queued by the broker;
- subscribes through the shared subscription `$share/<MINAN_MQTT_SHARE_GROUP>/…` so several ingest
  processes split the load (empty group: a plain subscription);
- acknowledges manually, a batch's PUBACKs only after the batch is committed. A process killed before
  the commit has acknowledged nothing, and the broker delivers those messages again on the next
  connection. Signals carry a `message_id`, so a message delivered twice is recorded once.
- `PipelinedMqttAdapter` (the default of `minan ingest`) records in a child process while it receives
  the next batch; `MqttAdapter` records in its own thread, taking turns with receiving.
- a payload that can never be recorded (not JSON, not a signal, unknown device) is logged and
  acknowledged: redelivering it would not help.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .ingest import MAX_BATCH, BadSignal, DeviceKey, Incoming, Recorder, parse_signal

log = logging.getLogger("minan.ingest.mqtt")

TOPIC = "minan/v1/devices/+/signals"
SESSION_EXPIRY = 7 * 24 * 3600  # the broker keeps the session (and queues) a week
RECEIVE_MAXIMUM = 10_000  # unacknowledged QoS 1 messages the broker may send us at once
BATCH_WINDOW = 0.02  # seconds to gather a batch after its first message


@dataclass
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> Broker:
    """mqtt://[user:password@]host[:port]"""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "tcp"} or not parts.hostname:
        raise ValueError(f"MQTT_URL must look like mqtt://host:1883, not {url!r}")
    return Broker(
        parts.hostname,
        parts.port or 1883,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def topic_serial(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[:3] == ["minan", "v1", "devices"] and parts[4] == "signals" and parts[3]:
        return parts[3]
    return None


def to_incoming(topic: str, payload: bytes) -> Incoming:
    """One MQTT message as a signal of its device; BadSignal if it cannot be one."""
    serial = topic_serial(topic)
    if serial is None:
        raise BadSignal("topic", f"unexpected topic {topic!r}")
    try:
        data = json.loads(payload.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadSignal("payload", "payload is not JSON") from None
    return Incoming(DeviceKey(serial=serial), parse_signal(data))


def parse_all(messages: list[tuple[str, bytes]]) -> tuple[list[Incoming], list[int], list[str]]:
    """The signals of (topic, payload) pairs, their positions, and per message "" or why it was refused
    (logged)."""
    items: list[Incoming] = []
    positions: list[int] = []
    errors = [""] * len(messages)
    for index, (topic, payload) in enumerate(messages):
        try:
            items.append(to_incoming(topic, payload))
            positions.append(index)
        except BadSignal as exc:
            errors[index] = f"refused:{exc.field}"
            log.warning("MQTT message on %s refused (%s: %s)", topic, exc.field, exc)
    return items, positions, errors


@dataclass
class Stats:
    received: int = 0
    recorded: int = 0
    rejected: int = 0
    batches: int = 0


class MqttAdapter:
    """Receives, records and acknowledges in one thread (`run_once`), driving paho's loop itself.

    One thread on purpose: with paho's network thread receiving a backlog while another thread records,
    the two fight over the GIL at every database round trip (measured: 5.5k signals/s with two threads,
    9-10k with one, docs/performance.md). While a batch is being recorded, the broker's messages wait
    in the socket buffer and the broker's queue."""

    def __init__(
        self, url: str, *, client_id: str, share_group: str = "", recorder: Recorder | None = None
    ) -> None:
        self.broker = parse_url(url)
        self.topic = f"$share/{share_group}/{TOPIC}" if share_group else TOPIC
        self.recorder = recorder or Recorder()
        self.inbox: list[mqtt.MQTTMessage] = []
        self.stats = Stats()
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._retry = 1.0

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        self._retry = 1.0
        log.info("MQTT connected to %s:%s, subscribed to %s", self.broker.host, self.broker.port, self.topic)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.append(message)

    def start(self) -> None:
        """Connect (retried by `pump` if the broker is not there yet)."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            self.client.connect(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                properties=properties)  # fmt: skip
        except OSError as exc:
            log.error("MQTT broker %s:%s not reachable: %s", self.broker.host, self.broker.port, exc)

    def stop(self) -> None:
        self.stopping.set()
        self.client.disconnect()

    def pump(self, timeout: float) -> None:
        """Let paho read, write and keep the connection alive for up to `timeout` seconds; reconnect
        (with a growing pause) when the connection is gone."""
        rc = self.client.loop(timeout)
        if rc == mqtt.MQTT_ERR_SUCCESS or self.stopping.is_set():
            return
        if self.stopping.wait(self._retry):
            return
        self._retry = min(self._retry * 2, 30.0)
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("MQTT reconnect failed: %s", exc)

    def _batch(self, timeout: float) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while not self.inbox and not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self.pump(min(left, 0.5))
        window = time.monotonic() + BATCH_WINDOW
        while len(self.inbox) < MAX_BATCH and (left := window - time.monotonic()) > 0:
            self.pump(left)
        batch, self.inbox = self.inbox[:MAX_BATCH], self.inbox[MAX_BATCH:]
        return batch

    def process(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Record a batch, then acknowledge it. Raises if the database failed (nothing acknowledged)."""
        items, positions, errors = parse_all([(m.topic, bytes(m.payload)) for m in batch])
        self.stats.rejected += sum(1 for e in errors if e)
        results = self.recorder.record_fresh(items) if items else []
        for result, index in zip(results, positions, strict=True):
            if result.error:
                self.stats.rejected += 1
                log.info("MQTT signal on %s not recorded: %s", batch[index].topic, result.error)
            else:
                self.stats.recorded += 1
        # Committed: now the broker may forget them (we subscribe at QoS 1: the broker sends at most that).
        for message in batch:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)
        self.stats.received += len(batch)
        self.stats.batches += 1

    def run_once(self, timeout: float = 0.5) -> int:
        batch = self._batch(timeout)
        if not batch:
            return 0
        delay = 0.5
        while True:
            try:
                self.process(batch)
                return len(batch)
            except Exception:  # the database is unreachable: keep the batch, try again
                log.exception("recording an MQTT batch failed; retrying in %.1f s", delay)
                self.recorder.forget()  # its device objects may hold what was rolled back
                retry_at = time.monotonic() + delay
                while (left := retry_at - time.monotonic()) > 0:
                    if self.stopping.is_set():
                        return 0  # not acknowledged: the broker delivers it again to the next session
                    self.pump(min(left, 0.5))  # keeps the connection alive (more messages may queue up)
                delay = min(delay * 2, 10.0)


# --- receiving and recording in two processes ---------------------------------------------------------------


def _record_forever(conn: Any) -> None:
    """The recording process: batches of (topic, payload) in, one error code per message out ("" when
    recorded; None for the batch when the database failed and nothing was committed). Parsing happens
    here too, so the receiving process does little more than paho's own work."""
    recorder = Recorder()
    while True:
        try:
            messages = conn.recv()
        except (EOFError, OSError):  # the receiving process is gone
            return
        items, positions, errors = parse_all(messages)
        try:
            for result, index in zip(recorder.record_fresh(items) if items else [], positions, strict=True):
                errors[index] = result.error
            answer: list[str] | None = errors
        except Exception:  # the database failed: nothing was committed
            log.exception("recording an MQTT batch failed")
            recorder.forget()
            answer = None
        conn.send(answer)


class RecorderProcess:
    """`Recorder.record` in a child process (fork), fed through a pipe, answering in order."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        import multiprocessing

        from django.db import connections

        connections.close_all()  # the child opens its own
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.proc = context.Process(
            target=_record_forever, args=(child,), name="minan-ingest-recorder", daemon=True
        )
        self.proc.start()
        child.close()

    def restart(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.start()


class PipelinedMqttAdapter(MqttAdapter):
    """Receives and acknowledges here; records in a `RecorderProcess` (issue 8's throughput target).

    In one process, receiving (paho parses every MQTT 5 packet in Python) and recording take turns on
    the one GIL. Here the child records batch k while this process receives batch k+1; a batch's
    PUBACKs go out only when the child reports its commit, so a kill -9 of either process loses nothing.
    Batches are answered in order; a batch the database refused is sent again after a pause."""

    MAX_PENDING = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder_process = RecorderProcess()
        self.pending: list[tuple[list[mqtt.MQTTMessage], list[tuple[str, bytes]]]] = []
        self._resend_at = 0.0
        self._delay = 0.5

    def _send(self, entry: tuple[list[mqtt.MQTTMessage], list[tuple[str, bytes]]]) -> None:
        self.pending.append(entry)
        try:
            self.recorder_process.conn.send(entry[1])
        except (BrokenPipeError, OSError):
            self._revive()

    def _revive(self) -> None:
        """The child died: start another and send it everything not yet answered, in order."""
        log.error("the recording process died; starting another")
        self.recorder_process.restart()
        for _batch, messages in self.pending:
            self.recorder_process.conn.send(messages)

    def _collect(self, block: bool) -> None:
        """Acknowledge every batch the child has committed (waiting for the oldest if `block`)."""
        conn = self.recorder_process.conn
        while self.pending:
            try:
                if not block and not conn.poll():
                    return
                answer = conn.recv()
            except (EOFError, OSError):
                self._revive()
                return
            block = False
            batch, messages = self.pending.pop(0)
            if answer is None:  # not committed: try it again later, nothing acknowledged
                self.pending.append((batch, messages))
                if self.stopping.wait(self._delay):
                    return
                self._delay = min(self._delay * 2, 10.0)
                conn.send(messages)
                continue
            self._delay = 0.5
            for error, message in zip(answer, batch, strict=True):
                if error:
                    self.stats.rejected += 1
                    log.info("MQTT signal on %s not recorded: %s", message.topic, error)
                else:
                    self.stats.recorded += 1
            for message in batch:
                if message.qos > 0:
                    self.client.ack(message.mid, message.qos)
            self.stats.received += len(batch)
            self.stats.batches += 1

    def pump(self, timeout: float) -> None:
        super().pump(timeout)
        if self.pending:
            self._collect(block=False)

    def run_once(self, timeout: float = 0.5) -> int:
        batch = self._batch(timeout)
        if batch:
            self._send((batch, [(m.topic, bytes(m.payload)) for m in batch]))
        self._collect(block=len(self.pending) >= self.MAX_PENDING)
        return len(batch)

    def stop(self) -> None:
        super().stop()
        self.recorder_process.conn.close()
        self.recorder_process.proc.join(5)
