"""A lean MQTT 5 QoS 1 publisher for load generation in benchmarks.

paho-mqtt costs ~100 µs of CPU per QoS 1 message published (measured here): at the rates the ingest
benchmark needs, the load generator would take most of a core from what it measures, and fall behind
its own schedule (which shows as latency that is not the ingest's). This writes pre-encoded PUBLISH
packets on a plain socket and reads the broker's PUBACKs only to count them. Benchmarks only: the
product uses paho.
"""

from __future__ import annotations

import socket
import struct
import time


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + _varint(len(body)) + body


def _text(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


class RawPublisher:
    def __init__(self, url: str, client_id: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # CONNECT: protocol "MQTT" level 5, clean start, keep-alive 60 s, no properties.
        self.sock.sendall(
            _packet(0x10, _text(b"MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + b"\0"
                    + _text(client_id.encode()))
        )  # fmt: skip
        connack = self.sock.recv(64)
        if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self.sock.setblocking(False)
        self.pending: list[bytes] = []
        self.mid = 0
        self.acked = 0
        self._unread = b""

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a QoS 1 PUBLISH; `flush` writes what is queued."""
        self.mid = self.mid % 65535 + 1
        self.pending.append(
            _packet(0x32, _text(topic.encode()) + struct.pack("!H", self.mid) + b"\0" + payload)
        )

    def flush(self) -> None:
        if self.pending:
            data, self.pending = b"".join(self.pending), []
            self.sock.setblocking(True)
            self.sock.sendall(data)
            self.sock.setblocking(False)
        self.read_acks()

    def read_acks(self) -> None:
        """Count the PUBACKs that have arrived (each is 0x40, remaining length, message id[, reason])."""
        try:
            while chunk := self.sock.recv(65536):
                data = self._unread + chunk
                at = 0
                while at + 2 <= len(data) and at + 2 + data[at + 1] <= len(data):
                    if data[at] == 0x40:
                        self.acked += 1
                    at += 2 + data[at + 1]
                self._unread = data[at:]
        except BlockingIOError:
            pass

    def wait_acked(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.acked < count and time.monotonic() < deadline:
            time.sleep(0.01)
            self.read_acks()
        return self.acked >= count

    def close(self) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
