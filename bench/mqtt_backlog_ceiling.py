"""How fast the broker alone hands over a backlog: the ceiling for "every fire alarm of a
100,000-message backlog recorded within 1 s of reconnecting".

The shipped broker configuration (tests/integration/harness.py), a persistent session with MQTT's largest
receive-maximum (65,535, as `minan ingest` asks), BENCH_MQTT_MESSAGES (100,000) messages of the ingest
benchmark's mix queued while the subscriber is away; then a subscriber that does nothing but read
(raw socket, one read of 64 KiB at a time) and acknowledge every message the moment it is read — what
no subscriber that acknowledges only after committing can beat. Prints when (ms after the CONNACK) the
messages at a few places arrived.

    .venv/bin/python bench/mqtt_backlog_ceiling.py
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _mqtt_load import RawPublisher, _packet, _text, _varint  # noqa: E402

from tests.integration.harness import mosquitto  # noqa: E402

BACKLOG = int(os.environ.get("BENCH_MQTT_MESSAGES", "100000"))
DEVICES = 5000
PLACES = (1_000, 33_000, 65_000, 67_000, 80_000, 99_000, BACKLOG)


def connect(port: int, client_id: str) -> socket.socket:
    """MQTT 5 CONNECT, clean start off, session expiry 1 h, receive-maximum 65,535."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    props = b"\x11" + struct.pack("!I", 3600) + b"\x21" + struct.pack("!H", 65535)
    body = _text(b"MQTT") + bytes([5, 0x00]) + struct.pack("!H", 60) + _varint(len(props)) + props
    sock.sendall(_packet(0x10, body + _text(client_id.encode())))
    connack = sock.recv(64)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"broker refused the connection: {connack!r}")
    return sock


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp)) as url:
        port = int(url.rsplit(":", 1)[1])
        client_id = f"ceiling-{uuid.uuid4().hex[:6]}"
        sock = connect(port, client_id)
        sock.sendall(
            _packet(0x82, struct.pack("!H", 1) + b"\0" + _text(b"minan/v1/devices/+/signals") + b"\x01")
        )
        sock.recv(64)  # SUBACK
        sock.sendall(b"\xe0\x00")  # DISCONNECT: the session (and its subscription) stays
        sock.close()
        pub = RawPublisher(url, f"ceiling-pub-{uuid.uuid4().hex[:6]}")
        for n in range(BACKLOG):
            payload = (
                {"type": "heartbeat"}
                if n % 2 == 0
                else {"type": "reading", "code": "temperature", "value": 20 + n % 9, "unit": "℃",
                      "message_id": f"b-{n}"}
            )  # fmt: skip
            pub.publish(f"minan/v1/devices/IT-{n % DEVICES:05d}/signals", json.dumps(payload).encode())
            if n % 1000 == 999:
                pub.flush()
                while pub.acked < n + 1 - 20_000:  # at most 20,000 unacknowledged (16-bit ids)
                    time.sleep(0.001)
                    pub.read_acks()
        pub.flush()
        if not pub.wait_acked(BACKLOG, 120):
            raise SystemExit(f"the broker acknowledged {pub.acked} of {BACKLOG}")
        pub.close()
        time.sleep(2.5)  # the broker's autosave (every 2 s) is not part of the measurement

        started = time.perf_counter()
        sock = connect(port, client_id)
        sock.settimeout(10)  # (raises if the broker stops sending before the whole backlog)
        got, at, buffer = 0, {}, b""
        while got < BACKLOG:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit(f"the broker closed the connection after {got} messages")
            buffer += chunk
            position, acks = 0, []
            while position + 2 <= len(buffer):
                length, shift, body = 0, 0, position + 1
                while body < len(buffer):
                    byte = buffer[body]
                    body += 1
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                else:
                    break
                if body + length > len(buffer):
                    break
                if buffer[position] & 0xF6 == 0x32:  # PUBLISH QoS 1
                    topic_end = body + 2 + struct.unpack_from("!H", buffer, body)[0]
                    acks.append(struct.pack("!BBH", 0x40, 2, struct.unpack_from("!H", buffer, topic_end)[0]))
                    got += 1
                    if got in PLACES:
                        at[got] = (time.perf_counter() - started) * 1000
                position = body + length
            buffer = buffer[position:]
            if acks:
                sock.sendall(b"".join(acks))
        sock.close()
        print(f"broker alone, backlog of {BACKLOG:,} read and acknowledged at once: "
              + ", ".join(f"message {place:,} at {ms:.0f} ms" for place, ms in at.items())
              + f" ({BACKLOG / at[BACKLOG] * 1000:,.0f} msg/s)")  # fmt: skip


if __name__ == "__main__":
    main()
