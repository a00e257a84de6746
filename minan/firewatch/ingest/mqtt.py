"""The MQTT adapter of `minan ingest`.

Devices (or gateways) publish one JSON signal per message to `minan/v1/devices/<serial>/signals` at
QoS 1 (docs/firewatch.md gives the payload). The adapter:
- connects with MQTT 5, a fixed client id and a persistent session (clean start off, session expiry
  `SESSION_EXPIRY`), so messages published while it is down are queued by the broker;
- subscribes to the topic directly (a plain subscription, which the broker keeps with the session
  across its own restarts), or, only when `MINAN_MQTT_SHARE_GROUP` is set for several ingest
  processes, through the shared subscription `$share/<group>/…`, which Mosquitto does not keep across
  a restart: the adapter subscribes again on every connection;
- reconnects 0.1 s after losing the connection, then with a growing pause (at most 30 s);
- acknowledges manually, a batch's PUBACKs only after the batch is committed. A process killed before
  the commit has acknowledged nothing, and the broker delivers those messages again on the next
  connection. Signals carry a `message_id`, so a message delivered twice is recorded once.
- `PipelinedMqttAdapter` (the default of `minan ingest`) records in child processes, split by device,
  while it keeps receiving, with a fast lane for alarms, faults and restores: they
  never wait for a batch of readings, and (`AlarmSession`) a second session that finds alarms deep in
  a backlog; `MqttAdapter` records in its own thread, taking turns with receiving.
- a payload that can never be recorded (not JSON, not a signal, unknown device) is logged and
  acknowledged: redelivering it would not help.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import select
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import connection, connections
from django.utils import translation
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from minan.core import limits

from .recorder import BadSignal, DeviceKey, Incoming, Recorder, parse_signal

log = logging.getLogger("minan.ingest.mqtt")

TOPIC = "minan/v1/devices/+/signals"
SESSION_EXPIRY = 7 * 24 * 3600  # the broker keeps the session (and queues) a week
# Reconnect pauses: the first one short, so that a restarted broker has us back before devices have
# flushed much to it (with a shared subscription, what arrives before we subscribe again is lost); then
# doubling, so a broker that stays down is not hammered.
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 30.0
# Unacknowledged QoS 1 messages the broker may send us at once: MQTT's most (packet ids are 16-bit). After
# an outage the receiving process reads this far into the backlog ahead of what is committed (and
# acknowledged), which is how far ahead of the readings queued before them alarms can be found.
RECEIVE_MAXIMUM = 65_535
BATCH_WINDOW = 0.02  # seconds to gather a batch after its first message
# At most this many messages a batch. When recording falls behind, batches grow up to it: the cost of a
# transaction, and of the escalation and notification queries of the fire alarms in it, is shared by
# more signals, so recording catches up (measured: 500 could not keep up with 7,700 signals/s).
BATCH_SIZE = 2000


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


def topic_of(message: mqtt.MQTTMessage) -> str:
    """The message's topic; "" (an unexpected topic, refused) if it is not UTF-8, which the broker should
    not have let through and on which paho raises."""
    try:
        return message.topic
    except UnicodeDecodeError:
        return ""


def to_incoming(topic: str, payload: bytes) -> Incoming:
    """One MQTT message as a signal of its device; BadSignal if it cannot be one."""
    serial = topic_serial(topic)
    if serial is None:
        raise BadSignal("topic", f"unexpected topic {topic!r}")
    try:
        text = payload.decode()
        # Nesting thousands deep would make json.loads raise RecursionError: not a BadSignal, so the
        # whole batch would be retried for ever. Measured without recursion first.
        if limits.json_depth_exceeds(text, limits.max_json_depth()):
            raise BadSignal("payload", "payload nested too deeply")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
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


PUBACK = struct.Struct("!BBH")  # an MQTT PUBACK: type 0x40, remaining length 2, message id
_U16 = struct.Struct("!H").unpack_from
READ_SIZE = 65536
READS_PER_TURN = 16  # reads of READ_SIZE (~10,000 small signals) before the receiving loop turns elsewhere


class BufferedSocket:
    """The broker connection, read 64 KiB at a time.

    paho reads every packet with three or more recv() calls (type byte, length bytes, body): from a
    backlog of small signals, most of its system calls. Like paho's own websocket wrapper this is a
    socket-like object; `pending()` tells paho's loop that read bytes are waiting (as for TLS)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""
        self.position = 0

    def recv(self, size: int) -> bytes:
        if self.position >= len(self.buffer):
            data = self.sock.recv(READ_SIZE)  # raises BlockingIOError when nothing has arrived
            if not data:
                return b""  # the broker closed the connection
            self.buffer, self.position = data, 0
        chunk = self.buffer[self.position : self.position + size]
        self.position += len(chunk)
        return chunk

    def pending(self) -> int:
        return len(self.buffer) - self.position

    def send(self, data: bytes | bytearray) -> int:
        return int(self.sock.send(data))

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)


_NO_INFO = mqtt.MQTTMessageInfo(0)  # shared: delivery tracking is for messages we publish


def _incoming(mid: int, topic: bytes, header: int, payload: bytes, at: float) -> mqtt.MQTTMessage:
    """A received QoS 1 message as paho builds it, less the `MQTTMessageInfo` paho gives each (a lock and
    a condition: a third of the cost of decoding a small PUBLISH), which tracks only what we publish."""
    message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
    message.timestamp, message.state, message.mid, message._topic = at, mqtt.mqtt_ms_invalid, mid, topic
    message.dup, message.retain = bool(header & 0x08), bool(header & 0x01)
    message.qos, message.payload, message.info, message.properties = 1, payload, _NO_INFO, None
    return message


class IngestClient(mqtt.Client):
    """paho's client with buffered reads, a fast path for plain QoS 1 PUBLISH packets and one write for a
    batch's PUBACKs: together they cut the receiving process's CPU per message about fivefold (from
    ~130 µs, docs/performance.md), which is what lets one ingest process outrun a plain subscriber.

    They reach into paho (`_create_socket`, `_handle_publish`, `_in_packet`, `_packet_queue`), which is
    pinned (2.2.0); minan/firewatch/tests/test_mqtt_client.py checks each against paho's own behaviour."""

    sift: Callable[[bytes, int, int], object] | None = None  # see `_take_publishes`
    passed: list[int] = []  # noqa: RUF012  (set with `sift`)

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """A QoS 1 PUBLISH without MQTT 5 properties (what devices send) without building paho's
        `Properties` object, which costs more than the rest of the packet's decoding; any other
        PUBLISH is paho's."""
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        end = 2 + int.from_bytes(packet[:2], "big")  # topic length, topic
        if (header & 0x06) != 0x02 or not self._manual_ack or len(packet) < end + 3 or packet[end + 2]:
            return super()._handle_publish()
        try:
            topic = bytes(packet[2:end])
            topic.decode()
        except UnicodeDecodeError:  # paho's way with a topic that is not UTF-8
            return super()._handle_publish()
        mid = int.from_bytes(packet[end : end + 2], "big")
        self._handle_on_message(_incoming(mid, topic, header, bytes(packet[end + 3 :]), time.monotonic()))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS  # manual acknowledgement: ack_all() after the commit

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """paho's, and before and after it every complete plain QoS 1 PUBLISH already read
        (`_take_publishes`)."""
        sock = self._sock
        if isinstance(sock, BufferedSocket) and self._in_packet["command"] == 0 and self._manual_ack:
            self._take_publishes(sock)
        rc = super().loop_read(max_packets)  # one packet (and the next read from the socket)
        if (
            rc == 0
            and sock is self._sock
            and isinstance(sock, BufferedSocket)
            and self._in_packet["command"] == 0
        ):
            self._take_publishes(sock)
        return rc

    def _take_publishes(self, sock: BufferedSocket) -> None:
        """Decode straight from the read buffer the complete QoS 1 PUBLISH packets without properties at
        its head (what devices send; a backlog is hundreds of them per read) and hand each to `on_message`,
        as `_handle_publish` does but without paho's per-packet reads and dispatch (a third of the
        receiving process's CPU per message). Anything else, or a packet not wholly read yet, is left
        to paho. (`message_callback_add` callbacks are not called for these: the adapter has none.)

        With `sift` set (the alarm session), a payload in which `sift` finds nothing is not handed on:
        only its message id is appended to `passed`, in order with what `on_message` appends."""
        on_message, sift, passed = self.on_message, self.sift, self.passed
        buffer, at, end = sock.buffer, sock.position, len(sock.buffer)
        if on_message is None or at >= end:
            return
        now = time.monotonic()
        taken = False
        while at + 5 <= end:
            header = buffer[at]
            if header & 0xF6 != 0x32:  # PUBLISH, QoS 1 (dup and retain either way)
                break
            length, shift, body = 0, 0, at + 1
            while body < end and shift <= 21:  # the remaining length: 1-4 bytes, 7 bits each
                byte = buffer[body]
                body += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # not wholly read (or malformed: paho's to judge)
            stop = body + length
            if stop > end or length < 6:
                break  # not wholly read, or too short for a topic, a message id and no properties
            topic_end = body + 2 + _U16(buffer, body)[0]
            if topic_end == body + 2 or topic_end + 3 > stop or buffer[topic_end + 2]:
                break  # no topic (an alias), a malformed length, or MQTT 5 properties: paho's
            if sift is not None and sift(buffer, topic_end + 3, stop) is None:
                passed.append(_U16(buffer, topic_end)[0])
                sock.position = at = stop
                taken = True
                continue
            topic = buffer[body + 2 : topic_end]
            try:
                topic.decode()
            except UnicodeDecodeError:  # paho's way with a topic that is not UTF-8
                break
            message = _incoming(_U16(buffer, topic_end)[0], topic, header, buffer[topic_end + 3 : stop], now)
            sock.position = at = stop
            taken = True
            on_message(self, self._userdata, message)
        if taken:
            with self._msgtime_mutex:
                self._last_bytes_received = now

    def ack_all(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (MQTT 5: a PUBACK without reason code means success)."""
        if mids:
            self._packet_queue(mqtt.PUBACK, b"".join(PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids), 0, 0)


def new_client(broker: Broker, client_id: str) -> IngestClient:
    client = IngestClient(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.max_queued_messages_set(0)
    return client


def connect(client: mqtt.Client, broker: Broker) -> None:
    """Open the persistent session (an error is logged; the caller's loop tries again)."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    try:
        client.connect(broker.host, broker.port, keepalive=30, clean_start=False, properties=properties)
    except OSError as exc:
        log.error("MQTT broker %s:%s not reachable: %s", broker.host, broker.port, exc)


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
        self.client_id = client_id
        self.topic = f"$share/{share_group}/{TOPIC}" if share_group else TOPIC
        self.recorder = recorder or Recorder()
        self.inbox: list[mqtt.MQTTMessage] = []
        self.stats = Stats()
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.client = new_client(self.broker, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._retry = RECONNECT_FIRST

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        # Every time, at once: a broker restored from its persistence file keeps a plain subscription
        # but not a shared one; subscribing again to a kept subscription changes nothing.
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        self._retry = RECONNECT_FIRST
        log.info("MQTT connected to %s:%s, subscribing to %s", self.broker.host, self.broker.port, self.topic)
        if not getattr(flags, "session_present", True):
            # First start under this client id, or the broker lost the session (no persistence, a
            # persistence file it could not write, the session expired): nothing was queued for us.
            log.warning("MQTT broker had no session for client id %s: a new one starts", self.client_id)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        """The broker's answer (SUBACK): only from now on does it route messages to us (an ACL may also
        refuse the subscription, and then nothing arrives at all)."""
        if any(reason.is_failure for reason in reasons):
            log.error("MQTT subscription to %s refused: %s", self.topic, ", ".join(str(r) for r in reasons))
        else:
            log.info("MQTT subscribed to %s", self.topic)

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
        connect(self.client, self.broker)

    def stop(self) -> None:
        self.stopping.set()
        self.client.disconnect()

    def pump(self, timeout: float) -> None:
        """Let paho read, write and keep the connection alive for up to `timeout` seconds; reconnect
        (with a growing pause) when the connection is gone."""
        rc = self.client.loop(timeout)
        # paho's loop() handles one packet per call; take the rest of what has been read without a
        # select() each, for a while: during a backlog there is always more, and the caller has other
        # work (the alarm session, the recording processes' answers).
        sock = self.client.socket()
        reads = READS_PER_TURN
        while (
            rc == mqtt.MQTT_ERR_SUCCESS
            and isinstance(sock, BufferedSocket)
            and sock.pending()
            and (len(self.inbox) < BATCH_SIZE)
            and reads
        ):
            rc = self.client.loop_read()
            reads -= 1
        if rc == mqtt.MQTT_ERR_SUCCESS or self.stopping.is_set():
            return
        if self.stopping.wait(self._retry):
            return
        self._retry = min(self._retry * 2, RECONNECT_MAX)
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
        while len(self.inbox) < BATCH_SIZE and (left := window - time.monotonic()) > 0:
            self.pump(left)
        batch, self.inbox = self.inbox[:BATCH_SIZE], self.inbox[BATCH_SIZE:]
        return batch

    def process(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Record a batch, then acknowledge it. Raises if the database failed (nothing acknowledged)."""
        items, positions, errors = parse_all([(topic_of(m), bytes(m.payload)) for m in batch])
        self.stats.rejected += sum(1 for e in errors if e)
        results = self.recorder.record_fresh(items) if items else []
        for result, index in zip(results, positions, strict=True):
            if result.error:
                self.stats.rejected += 1
                log.info("MQTT signal on %s not recorded: %s", topic_of(batch[index]), result.error)
            else:
                self.stats.recorded += 1
        # Committed: now the broker may forget them (we subscribe at QoS 1: the broker sends at most that).
        self.client.ack_all([m.mid for m in batch if m.qos > 0])
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


RETRY_DELAY = 0.5  # seconds before recording a refused batch again (doubling, at most 10 s)
# With a fast lane, the batch lane's recording processes can run nicer (lower CPU priority), so that on a
# machine short of CPU the receiving process and the fast lane's recorders are served first. Measured
# (docs/performance.md): 10 helped the alarms when other programs kept the CPUs busy, but cost a
# fifth of the throughput otherwise; off.
BATCH_NICE = 0


def _record_forever(conn: Any, fast: bool = False, nice: int = 0) -> None:
    """The recording process: parts of (topic, payload) in, one error code per message out ("" when
    recorded), in order. Parsing happens here too, so the receiving process does little more than
    paho's own work. Alarms first (`Recorder.record`'s `urgent_first`). When the database fails, the
    same part is tried again after a growing pause before any later one: a device's signals keep
    their order, and nothing of the part is acknowledged meanwhile (message ids make what a failed
    attempt committed a duplicate the next time).

    `fast` (a fast-lane process, which gets alarms one by one): every part already waiting is recorded
    with the first, in one go, and answered part by part: a burst of alarms (after an outage) costs
    one transaction, not one each. It keeps its database connection for good (no check before each
    part, no reconnection when CONN_MAX_AGE has passed: round trips in the alarm path) and drops it
    only when recording fails."""
    # What this process inherited (Django, the modules: most of its objects) is never garbage: leave it
    # out of the collector's full passes, which otherwise took 80-160 ms each here, a pause every few
    # seconds in the alarm path (measured with gc.callbacks under the benchmark's load).
    gc.freeze()
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    recorder = Recorder()
    record = recorder.record if fast else recorder.record_fresh
    parent = os.getppid()
    if fast:  # connect now rather than when the first alarm comes
        with contextlib.suppress(Exception):  # the database is not there yet: the first part retries
            connection.ensure_connection()
    while True:
        try:
            while not conn.poll(1.0):
                if os.getppid() != parent:  # the receiving process was killed: nobody to answer
                    return
            parts = [conn.recv()]
            while fast and parts[-1] is not None and conn.poll():
                parts.append(conn.recv())
        except (EOFError, OSError):  # the receiving process is gone
            return
        stop = parts[-1] is None  # asked to stop (after answering what came before)
        if stop:
            parts.pop()
        if not parts:
            return
        messages = [message for part in parts for message in part]
        items, positions, errors = parse_all(messages)
        delay = RETRY_DELAY
        while True:
            try:
                recorded = record(items, urgent_first=True) if items else []
                break
            except Exception:  # the database is unreachable or refused the part: try it again
                log.exception("recording an MQTT batch failed; retrying in %.1f s", delay)
                recorder.forget()  # its device objects may hold what was rolled back
                if fast:
                    with contextlib.suppress(Exception):
                        connection.close()  # the next attempt connects afresh
                if os.getppid() != parent:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        for result, index in zip(recorded, positions, strict=True):
            errors[index] = result.error
        start = 0
        for part in parts:
            conn.send(errors[start : start + len(part)])
            start += len(part)
        if stop:
            return


def _warm_up() -> None:
    """Load before forking what the first alarm would otherwise load in its recording process: the
    translation catalogues (the escalation and notification modules, ~50 ms to import, come with this
    module's imports)."""
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Fire alarm")


class RecorderProcess:
    """`Recorder.record` in a child process (fork), fed through a pipe, answering in order; `fast`: a
    fast-lane process (`_record_forever`)."""

    def __init__(self, fast: bool = False, nice: int = 0) -> None:
        self.fast, self.nice = fast, nice
        self.start()

    def start(self) -> None:
        connections.close_all()  # the child opens its own
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        name = "minan-ingest-alarms" if self.fast else "minan-ingest-recorder"
        self.proc = context.Process(
            target=_record_forever, args=(child, self.fast, self.nice), name=name, daemon=True
        )
        self.proc.start()
        child.close()

    def stop(self) -> None:
        """Ask the process to end after its current part (it also ends by itself if this process dies);
        kill it if it does not."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()

    def restart(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.start()


# How the receiving process routes a message (`lane_kind`): alarms, faults and restores go to the fast
# lane at once; heartbeats and everything else (readings, events, what is not a signal) into batches.
HEARTBEAT, OTHER, ALARM, RESTORE = range(4)
_TYPE_MEMBER = re.compile(rb'"type"\s*:\s*"([a-z]+)"')
_MAYBE_FAST = re.compile(rb'"(?:alarm|fault|restore)"')  # without it a payload is none of them


def lane_kind(payload: bytes | bytearray) -> int:
    """What a payload is, as far as routing goes, for a fraction of the cost of parsing it: the first
    `"type": "…"` member (in JSON only a key is followed by a colon, and a string cannot hold a bare
    quote). Alarm, fault and restore — rare — are confirmed by parsing the payload. Anything unclear is
    OTHER: batched, and ordered with the device's fast-lane signals like a reading. A payload that
    misleads this test only changes the lane it is recorded in, not how it is recorded."""
    found = _TYPE_MEMBER.search(payload)
    if found is None:
        return OTHER
    kind = found.group(1)
    if kind == b"heartbeat":
        return HEARTBEAT
    if kind not in (b"alarm", b"fault", b"restore"):
        return OTHER
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested thousands deep: refused later
        return OTHER
    exact = data.get("type") if isinstance(data, dict) else None
    return ALARM if exact in ("alarm", "fault") else RESTORE if exact == "restore" else OTHER


class _Pending:
    """A received message until it is acknowledged: its topic, its kind (`lane_kind`), whether it went
    to the fast lane, and once its part is committed, why it was not recorded ("": it was). An alarm
    also knows whether it came through the alarm session (`early`), when it was received (`since`), and
    its copies from the other session that wait for its commit instead of being recorded again
    (`followers`)."""

    __slots__ = (
        "connection",
        "done",
        "early",
        "error",
        "fast",
        "followers",
        "kind",
        "message",
        "since",
        "topic",
    )

    def __init__(
        self, message: mqtt.MQTTMessage, topic: str, kind: int, connection: int, early: bool = False
    ) -> None:
        self.message, self.topic, self.kind, self.connection = message, topic, kind, connection
        self.fast = self.done = False
        self.early = early
        self.error = ""
        self.followers: list[_Pending] | None = None
        self.since = 0.0


@dataclass
class _Batch:
    """A batch of the batch lane while its parts are being recorded; complete when every part is."""

    outstanding: int = 0


@dataclass
class _Part:
    """What one recording process records in one go: its share of a batch, or (`batch` None) fast-lane
    messages."""

    batch: _Batch | None
    items: list[_Pending]
    messages: list[tuple[str, bytes]]


ALARM_SESSION_SUFFIX = "-alarms"
# An alarm received on one session waits this long for its copy from the other session (which then
# takes its result instead of being recorded again); a copy later than that is recorded again, which
# its message id or device time makes a duplicate.
TWIN_SECONDS = 120.0
# At a start, the alarm session connects first, and the main session once the alarm session has read
# nothing for HEAD_START_QUIET seconds (it has read what was queued for it), or after HEAD_START.
HEAD_START = 2.0
HEAD_START_QUIET = 0.05


class AlarmSession:
    """A second MQTT session (client id `<ingest's>-alarms`, the same topic) that finds alarms early.

    The main session acknowledges a message only once it is committed, and the broker keeps at most
    `RECEIVE_MAXIMUM` unacknowledged: after an outage, an alarm deeper in the backlog than that is not
    even sent before the messages ahead of it, less 65,535, are committed. This session acknowledges
    every message as soon as it is read, so the broker sends it its whole queue at the broker's own
    pace, and sends its alarms and faults to the fast lane. Acknowledging here loses nothing: the main
    session receives the same messages and acknowledges each only once it (or this session's copy of
    it) is committed; if this process dies first, the broker delivers the main session's copy again.
    The adapter records each alarm once, whichever session brings it first; the copy from the other
    session takes its result (`PipelinedMqttAdapter._route_fast`).

    Driven by the adapter's loop, never blocking it: a lost connection is retried after a pause that
    grows like the main session's."""

    def __init__(self, adapter: PipelinedMqttAdapter, client_id: str, topic: str) -> None:
        self.adapter = adapter
        self.client_id, self.topic = client_id, topic
        self.client = new_client(adapter.broker, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.ready: list[int] = []  # message ids read and not yet acknowledged, in order
        # Only payloads that may be an alarm, a fault or a restore are decoded; the rest only acknowledged.
        self.client.sift, self.client.passed = _MAYBE_FAST.search, self.ready
        self.connection = 0
        self.retry = RECONNECT_FIRST
        self.retry_at = 0.0
        self.received = 0
        self.connected_at = 0.0  # when the broker last accepted the connection
        self.last_read = 0.0  # when a message was last read (or the connection made)

    def start(self) -> None:
        connect(self.client, self.adapter.broker)

    def stop(self) -> None:
        self.client.disconnect()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT alarm session refused: %s", reason)
            return
        client.subscribe(self.topic, qos=1)
        # What the last connection read and did not acknowledge, the broker sends again.
        self.connection += 1
        self.ready.clear()
        self.retry, self.retry_at = RECONNECT_FIRST, 0.0
        self.connected_at = self.last_read = time.monotonic()
        log.info("MQTT connected to %s:%s for alarms as %s", self.adapter.broker.host,
                 self.adapter.broker.port, self.client_id)  # fmt: skip
        if not getattr(flags, "session_present", True):
            log.warning("MQTT broker had no session for client id %s: a new one starts", self.client_id)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if not self.adapter.stopping.is_set():
            log.warning("MQTT alarm session disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.ready.append(message.mid)
        kind = lane_kind(message.payload)
        if kind in (ALARM, RESTORE):  # everything else is the main session's alone
            topic = topic_of(message)
            if kind == RESTORE:
                self.adapter._early_restore(topic, message, self.connection)
            elif topic not in self.adapter.blocked:
                self.adapter._route_fast(_Pending(message, topic, ALARM, self.connection, early=True))

    def acknowledge(self) -> None:
        """Acknowledge, in the order read, what was read since the last time."""
        if self.ready:
            self.received += len(self.ready)
            self.client.ack_all(self.ready)
            self.ready.clear()  # (the same list is the client's `passed`)

    def pump(self) -> None:
        """Read what has arrived; reconnect once the pause after a lost connection has passed."""
        rc = self.client.loop(0)
        sock = self.client.socket()
        reads = 8 * READS_PER_TURN  # it goes first and reads longer: its messages cost little
        while rc == mqtt.MQTT_ERR_SUCCESS and isinstance(sock, BufferedSocket) and sock.pending() and reads:
            rc = self.client.loop_read()
            reads -= 1
        if rc == mqtt.MQTT_ERR_SUCCESS and self.ready:
            self.last_read = time.monotonic()
            self.acknowledge()
        if rc == mqtt.MQTT_ERR_SUCCESS or self.adapter.stopping.is_set():
            return
        now = time.monotonic()
        if not self.retry_at:
            self.retry_at = now + self.retry
        elif now >= self.retry_at:
            self.retry = min(self.retry * 2, RECONNECT_MAX)
            self.retry_at = now + self.retry
            try:
                self.client.reconnect()
            except OSError as exc:
                log.warning("MQTT alarm session reconnect failed: %s", exc)


def _follow(leader: _Pending, follower: _Pending) -> None:
    if leader.followers is None:
        leader.followers = [follower]
    else:
        leader.followers.append(follower)


class PipelinedMqttAdapter(MqttAdapter):
    """Receives and acknowledges here; records in `RecorderProcess`es (for throughput), with a
    fast lane for alarms.

    In one process, receiving (paho parses every MQTT packet in Python) and recording take turns on the
    one GIL. Here this process only receives, routes and acknowledges, and keeps reading while the
    recording processes work:

    - the batch lane: heartbeats, readings and events gather into batches (up to `BATCH_SIZE`, or
      `BATCH_WINDOW` after the first), at most `MAX_PENDING` of them being recorded at a time; a batch
      is split by topic over `recorders` processes, so all of a device's signals go to the same process,
      in order, and the processes write at the same time (PostgreSQL);
    - the fast lane (on unless the database is SQLite, whose writers take turns): alarms, faults and
      restores go, the moment they are read, to recording processes of their own (as many, split by
      topic the same way), which never hold a batch of readings. After an outage this process reads
      the broker's backlog as fast as it arrives (up to `RECEIVE_MAXIMUM` unacknowledged), so an alarm
      does not wait for the readings queued before it.

    A device's order across the two lanes: its alarms and faults commute with its readings (no rule of
    one reads what the other writes), so they go at once; a restore, which clears what a threshold
    reading may raise, waits (with whatever of its device follows it) until the device's readings
    received before it are committed; a device's readings and events that follow a fast-lane signal not
    yet committed follow it into the fast lane. Heartbeats only move liveness and go with the batches.

    PUBACKs go out in the order the messages were received (MQTT requires it), each only when it and
    every message before it are committed: an alarm committed early is acknowledged with the readings
    received before it. So a kill -9 of any process loses nothing. A recording process retries a part
    the database refused before it takes the next one."""

    MAX_PENDING = 2  # batches being recorded before the next waits (receiving goes on)
    alarm_session: AlarmSession | None

    def __init__(
        self,
        *args: Any,
        recorders: int = 1,
        fast_lane: bool | None = None,
        alarm_session: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if fast_lane is None:  # SQLite takes one writer at a time: a second lane would wait for the first
            fast_lane = connection.vendor != "sqlite"
        shards = max(1, recorders)
        _warm_up()
        processes = [RecorderProcess(nice=BATCH_NICE if fast_lane else 0) for _ in range(shards)]
        if fast_lane:
            processes += [RecorderProcess(fast=True) for _ in range(shards)]
        self._lanes(processes, shards)
        if fast_lane and alarm_session:
            group = self.topic.split("/")[1] if self.topic.startswith("$share/") else ""
            topic = f"$share/{group}{ALARM_SESSION_SUFFIX}/{TOPIC}" if group else TOPIC
            self.alarm_session = AlarmSession(self, self.client_id + ALARM_SESSION_SUFFIX, topic)

    def _lanes(self, processes: list[Any], shards: int) -> None:
        """The pipeline's state: `shards` recording processes for batches, then as many for the fast
        lane if there are more."""
        self.recorder_processes = processes
        self.shards = shards
        self.fast_lane = len(processes) > shards
        self.parts: list[deque[_Part]] = [deque() for _ in processes]  # sent, unanswered, per process
        self.unacked: deque[_Pending] = deque()  # received, not yet acknowledged, in order
        self.connection = 0  # counts broker connections: a message id is only acknowledged on its own
        self.waiting: list[_Pending] = []  # for the batch lane, not yet sent
        self.waiting_since = 0.0
        self.in_flight = 0  # batches sent and not complete
        # Per topic (device), with the fast lane: readings and events in the batch lane not yet
        # committed; fast-lane messages not yet committed; fast-lane messages held back until the first
        # count is 0.
        self.batched_open: dict[str, int] = {}
        self.fast_open: dict[str, int] = {}
        self.held: dict[str, list[_Pending]] = {}
        self.alarm_session = None
        self.main_due = 0.0  # while the alarm session has its head start: when the main session connects
        # With the alarm session, each alarm arrives twice: per (topic, payload), the alarms received on
        # one session whose copy from the other has not come yet, oldest first.
        self.twins: dict[tuple[str, bytes], deque[_Pending]] = {}
        self.twins_pruned = 0.0
        self.blocked: dict[str, int] = {}  # topics whose alarms the alarm session leaves to the main session

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        # Messages of the previous connection still being recorded are not acknowledged on this one: the
        # broker sends them again (and may give their ids to other messages once acknowledged).
        self.connection += 1
        super()._on_connect(client, userdata, flags, reason, props)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = topic_of(message)
        kind = lane_kind(message.payload) if self.fast_lane else OTHER
        item = _Pending(message, topic, kind, self.connection)
        self.unacked.append(item)
        if kind in (ALARM, RESTORE) or (kind == OTHER and topic in self.fast_open):
            self._route_fast(item)
            return
        if not self.waiting:
            self.waiting_since = time.monotonic()
        self.waiting.append(item)
        if kind == OTHER and self.fast_lane:
            self.batched_open[topic] = self.batched_open.get(topic, 0) + 1

    def _route_fast(self, item: _Pending) -> None:
        topic = item.topic
        item.fast = True
        if not item.early:
            self.fast_open[topic] = self.fast_open.get(topic, 0) + 1
        if self.alarm_session is not None:
            twin = self._twin(item)
            if item.kind == ALARM and twin is not None:
                # The other session's copy is recorded (or being recorded): take its result.
                if twin.done:
                    self._finish(item, twin.error)
                else:
                    _follow(twin, item)
                return
            if twin is not None:  # a restore the alarm session saw first: it waits for this one's commit
                _follow(item, twin)
            if item.early:
                self._send([item], None)
                return
        if topic in self.held:
            self.held[topic].append(item)
        elif item.kind != ALARM and self.batched_open.get(topic):
            self.held[topic] = [item]
        else:
            self._send([item], None)

    def _twin(self, item: _Pending) -> _Pending | None:
        """The copy of this alarm received on the other session and not yet claimed, if any; else this
        one waits for its own copy."""
        key = (item.topic, bytes(item.message.payload))
        waiting = self.twins.get(key)
        if waiting and waiting[0].early != item.early:
            leader = waiting.popleft()
            if not waiting:
                del self.twins[key]
            return leader
        item.since = time.monotonic()
        if waiting is None:
            self.twins[key] = deque([item])
        else:
            waiting.append(item)  # the same bytes twice on one session: two messages
        return None

    def _early_restore(self, topic: str, message: mqtt.MQTTMessage, connection: int) -> None:
        """The alarm session received a restore. Restores are recorded by the main session only, in their
        device's order; until this one is committed there, the alarm session leaves its device's alarms
        to the main session too (one recorded early could be cleared by the restore sent before it)."""
        marker = _Pending(message, topic, RESTORE, connection, early=True)
        main = self._twin(marker)
        if main is not None and main.done:
            return
        self.blocked[topic] = self.blocked.get(topic, 0) + 1
        if main is not None:
            _follow(main, marker)

    def _unblock(self, topic: str) -> None:
        left = self.blocked.get(topic, 0) - 1
        if left > 0:
            self.blocked[topic] = left
        else:
            self.blocked.pop(topic, None)

    def _prune_twins(self, now: float) -> None:
        """Forget alarms whose copy did not come within TWIN_SECONDS (the other session was away, or a
        redelivery): a copy arriving later is recorded again, as a duplicate."""
        if now - self.twins_pruned < 10 or not self.twins:
            return
        self.twins_pruned = now
        for key in list(self.twins):
            waiting = self.twins[key]
            while waiting and now - waiting[0].since > TWIN_SECONDS:
                gone = waiting.popleft()
                if gone.early and gone.kind == RESTORE:
                    self._unblock(gone.topic)
            if not waiting:
                del self.twins[key]

    def _send(self, items: list[_Pending], batch: _Batch | None) -> None:
        """Send messages to the recording processes, split by topic: a batch to the batch lane, or (batch
        None) to the fast lane."""
        split: dict[int, _Part] = {}
        for item in items:
            shard = zlib.crc32(item.topic.encode()) % self.shards if self.shards > 1 else 0
            part = split.get(shard)
            if part is None:
                part = split[shard] = _Part(batch, [], [])
            part.items.append(item)
            part.messages.append((item.topic, bytes(item.message.payload)))
        offset = self.shards
        if batch is not None:
            batch.outstanding = len(split)
            self.in_flight += 1
            self.stats.batches += 1
            offset = 0
        for shard, part in split.items():
            lane = offset + shard
            self.parts[lane].append(part)
            try:
                self.recorder_processes[lane].conn.send(part.messages)
            except (BrokenPipeError, OSError):
                self._revive(lane)

    def _dispatch(self, now: float) -> None:
        """Send batches while fewer than MAX_PENDING are being recorded: a full one at once, else what has
        gathered once BATCH_WINDOW has passed since its first message."""
        while (
            self.waiting
            and self.in_flight < self.MAX_PENDING
            and (len(self.waiting) >= BATCH_SIZE or now - self.waiting_since >= BATCH_WINDOW)
        ):
            batch, self.waiting = self.waiting[:BATCH_SIZE], self.waiting[BATCH_SIZE:]
            self._send(batch, _Batch())

    def _revive(self, lane: int) -> None:
        """A recording process died: start another and send it everything not yet answered, in order."""
        log.error("recording process %d died; starting another", lane)
        self.recorder_processes[lane].restart()
        for part in self.parts[lane]:
            self.recorder_processes[lane].conn.send(part.messages)

    def _answer(self, lane: int) -> None:
        """Take one answer of recording process `lane` (one is waiting): its oldest part is committed."""
        process, parts = self.recorder_processes[lane], self.parts[lane]
        try:
            answer = process.conn.recv()
        except (EOFError, OSError):
            self._revive(lane)
            return
        part = parts.popleft()
        for item, error in zip(part.items, answer, strict=True):
            self._finish(item, error)
        if part.batch is not None:
            part.batch.outstanding -= 1
            if not part.batch.outstanding:
                self.in_flight -= 1
            for topic in [t for t in self.held if t not in self.batched_open]:
                self._send(self.held.pop(topic), None)  # its readings received before are committed

    def _finish(self, item: _Pending, error: str) -> None:
        """A message is committed (or refused for good), and so are the copies that wait for it."""
        item.error, item.done = error, True
        if item.early and item.kind == RESTORE:
            self._unblock(item.topic)
        counts = None
        if not item.early:  # the alarm session's messages are outside the main session's device order
            counts = self.fast_open if item.fast else self.batched_open if item.kind == OTHER else None
        if counts is not None and item.topic in counts:
            left = counts[item.topic] - 1
            if left:
                counts[item.topic] = left
            else:
                del counts[item.topic]
        if item.followers:
            for follower in item.followers:
                self._finish(follower, error)
            item.followers = None

    def _acknowledge(self) -> None:
        """Acknowledge, in the order received, every message committed with all those before it."""
        mids: list[int] = []
        unacked = self.unacked
        while unacked and unacked[0].done:
            item = unacked.popleft()
            if item.error:
                self.stats.rejected += 1
                log.info("MQTT signal on %s not recorded: %s", item.topic, item.error)
            else:
                self.stats.recorded += 1
            self.stats.received += 1
            if item.message.qos > 0 and item.connection == self.connection:
                mids.append(item.message.mid)
        if mids:
            self.client.ack_all(mids)

    def _collect(self) -> None:
        """Take every answer that has arrived, and acknowledge what is complete."""
        while True:
            waiting = {self.recorder_processes[i].conn: i for i, parts in enumerate(self.parts) if parts}
            ready = multiprocessing.connection.wait(list(waiting), timeout=0) if waiting else []
            if not ready:
                break
            for conn in ready:
                self._answer(waiting[conn])
        self._acknowledge()
        if self.alarm_session is not None:
            self.alarm_session.acknowledge()

    def _wait(self, timeout: float) -> None:
        """Until the broker sent something or can take what is queued for it, a recording process
        answered, a batch is due, or `timeout`."""
        sock = self.client.socket()
        if self.main_due:  # the alarm session's head start: wake up when it may be over
            now = time.monotonic()
            timeout = min(timeout, max(0.0, self.main_due - now))
            if self.alarm_session is not None and self.alarm_session.connected_at:
                timeout = min(timeout, max(0.001, self.alarm_session.last_read + HEAD_START_QUIET - now))
            readers, writers = [], []
        elif sock is None or (isinstance(sock, BufferedSocket) and sock.pending()):
            return  # not connected (`pump` reconnects), or read and not yet handled
        else:
            readers, writers = [sock], [sock] if self.client.want_write() else []
        if self.alarm_session is not None:
            session = self.alarm_session
            other = session.client.socket()
            if other is None:  # not connected: wake up in time to try again
                timeout = min(timeout, max(0.0, session.retry_at - time.monotonic()) or 0.1)
            elif isinstance(other, BufferedSocket) and other.pending():
                return
            else:
                readers.append(other)
                if session.client.want_write():
                    writers.append(other)
        if self.waiting and self.in_flight < self.MAX_PENDING:
            timeout = min(timeout, self.waiting_since + BATCH_WINDOW - time.monotonic())
        if timeout > 0:
            busy = [self.recorder_processes[i].conn for i, parts in enumerate(self.parts) if parts]
            with contextlib.suppress(OSError, ValueError):  # a socket closed meanwhile: `pump` sees to it
                select.select([*readers, *busy], writers, [], timeout)

    def run_once(self, timeout: float = 0.5) -> int:
        """Wait for something to do (at most `timeout`), then read what the broker sent, take the answers
        of the recording processes, acknowledge and send what is due. Returns messages acknowledged."""
        before = self.stats.received
        self._wait(timeout)
        if self.alarm_session is not None:  # first: what it reads goes to the fast lane
            self.alarm_session.pump()
            if self.alarm_session.client.want_write():
                self.alarm_session.client.loop_write()
        if self.main_due:
            self._end_head_start()
        else:
            self.pump(0)
            if self.client.want_write():  # what paho queued while reading (the SUBSCRIBE after a CONNACK)
                self.client.loop_write()
        self._collect()
        now = time.monotonic()
        self._dispatch(now)
        self._prune_twins(now)
        return self.stats.received - before

    def start(self) -> None:
        """Connect; with the alarm session, that one first, and the main session once the alarm session
        has read what the broker queued for it (it goes quiet) or after `HEAD_START` at most: after an
        outage the receiving process, the broker and the fast lane then serve the alarms first. Not with
        a shared subscription, which the broker does not keep across its restarts: every moment before
        the main session subscribes again could lose messages."""
        if self.alarm_session is None:
            super().start()
            return
        self.alarm_session.start()
        if self.topic.startswith("$share/"):
            super().start()
        else:
            self.main_due = time.monotonic() + HEAD_START

    def _end_head_start(self) -> None:
        session = self.alarm_session
        now = time.monotonic()
        quiet = session is not None and session.connected_at and now - session.last_read >= HEAD_START_QUIET
        if quiet or now >= self.main_due:
            self.main_due = 0.0
            super().start()

    def stop(self) -> None:
        super().stop()
        if self.alarm_session is not None:
            self.alarm_session.stop()
        for process in self.recorder_processes:
            process.stop()
