"""`minan ingest` over a real Mosquitto: nothing acknowledged is lost, nothing is recorded twice.

Needs the `mosquitto` binary (CI starts one anyway); each test runs its own broker on a free port,
with the shipped configuration (deploy/mosquitto/minan.conf), and its own
database (PostgreSQL when DATABASE_URL points there, else an SQLite file).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from .harness import Deployment, deployment, mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]

DEVICES = 50


def publisher(url: str) -> mqtt.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"it-pub-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    return client


def signals(total: int, fires: int) -> list[tuple[str, dict[str, object]]]:
    """`total` messages: a fire alarm on each of the first `fires` devices, spread evenly through a
    stream of temperature readings."""
    every = total // fires
    fire_at = {every * k + every // 2: k for k in range(fires)}
    out: list[tuple[str, dict[str, object]]] = []
    for n in range(total):
        if n in fire_at:
            out.append((f"IT-{fire_at[n]:05d}", {"type": "alarm", "code": "fire", "message_id": f"fire-{n}"}))
        else:
            out.append((f"IT-{n % DEVICES:05d}", {"type": "reading", "code": "temperature", "value": 20 + n % 7,
                                                  "unit": "℃", "message_id": f"r-{n}"}))  # fmt: skip
    return out


def wait_for(deploy: Deployment, sql: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    value = -1
    while time.monotonic() < deadline:
        value = deploy.query(sql)[0][0]
        if value >= expected:
            return int(value)
        time.sleep(0.2)
    return int(value)


def test_kill_9_during_a_burst_loses_no_fire_alarm_and_duplicates_none(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as url, deployment(tmp_path, url, DEVICES) as deploy:
        deploy.start_ingest()
        stream = signals(10_000, 50)
        assert sum(1 for _s, p in stream if p["type"] == "alarm") == 50
        client = publisher(url)
        published: list[mqtt.MQTTMessageInfo] = []
        killed = threading.Event()

        def publish() -> None:
            for index, (serial, payload) in enumerate(stream):
                published.append(
                    client.publish(f"minan/v1/devices/{serial}/signals", json.dumps(payload), qos=1)
                )
                if index == 3_000:
                    deploy.kill_ingest()  # mid-burst, with messages in flight and uncommitted
                    killed.set()
                if index % 500 == 0:
                    time.sleep(0.05)

        sender = threading.Thread(target=publish)
        sender.start()
        sender.join(120)
        assert killed.is_set()
        for info in published:
            info.wait_for_publish(30)  # the broker has every message (PUBACK from the broker)
        client.loop_stop()
        client.disconnect()
        stored_before = deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0]
        assert 0 < stored_before < 10_000  # the kill really interrupted the burst
        deploy.start_ingest()
        stored = wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", 10_000, 90)
        time.sleep(1)  # anything redelivered late would show up now
        assert deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0] == stored == 10_000
        fires = deploy.query(
            "SELECT d.serial, COUNT(*) FROM firewatch_alarm a JOIN firewatch_device d ON d.id = a.device_id "
            "WHERE a.kind = 'fire' GROUP BY d.serial"
        )
        assert len(fires) == 50 and all(count == 1 for _serial, count in fires)
        assert deploy.query("SELECT COUNT(*) FROM firewatch_signal WHERE type = 'alarm'")[0][0] == 50
        # Each fire alarm started its escalation chain in the transaction that committed it.
        escalated = deploy.query("SELECT COUNT(*) FROM firewatch_alarmevent WHERE action = 'escalated'")[0][0]
        assert escalated == 50


def test_a_payload_that_is_not_a_signal_is_dropped_and_the_rest_recorded(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as url, deployment(tmp_path, url, 3) as deploy:
        deploy.start_ingest()
        client = publisher(url)
        for topic, body in [
            ("minan/v1/devices/IT-00000/signals", b"not json"),
            ("minan/v1/devices/IT-00001/signals", json.dumps({"type": "explode"}).encode()),
            ("minan/v1/devices/NOPE/signals", json.dumps({"type": "alarm", "code": "fire"}).encode()),
            (
                "minan/v1/devices/IT-00002/signals",
                json.dumps({"type": "alarm", "code": "fire", "message_id": "x1"}).encode(),
            ),  # fmt: skip
        ]:
            client.publish(topic, body, qos=1).wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        assert wait_for(deploy, "SELECT COUNT(*) FROM firewatch_alarm", 1, 20) == 1
        assert deploy.query("SELECT d.serial, a.kind FROM firewatch_alarm a JOIN firewatch_device d "
                            "ON d.id = a.device_id") == [("IT-00002", "fire")]  # fmt: skip
        # The refusals are logged when the batch is acknowledged, just after its alarm is committed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            any("payload is not JSON" in line for line in deploy.log)
            and any("unknown_device" in line for line in deploy.log)
        ):
            time.sleep(0.05)
        deploy.stop_ingest()
        assert any("payload is not JSON" in line for line in deploy.log)
        assert any("unknown_device" in line for line in deploy.log)


def test_two_ingest_processes_share_the_subscription(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as url, deployment(tmp_path, url, DEVICES) as deploy:
        # A share group only when running several ingest processes (the default is a plain subscription).
        deploy.start_ingest(share_group="minan")
        deploy.start_ingest(client_id="minan-it-second", share_group="minan")
        client = publisher(url)
        infos = [
            client.publish(f"minan/v1/devices/IT-{n % DEVICES:05d}/signals",
                           json.dumps({"type": "reading", "code": "t", "value": n, "message_id": f"s-{n}"}), qos=1)
            for n in range(2_000)
        ]  # fmt: skip
        for info in infos:
            info.wait_for_publish(30)
        client.loop_stop()
        client.disconnect()
        assert wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", 2_000, 60) == 2_000
        deploy.stop_ingest()
        counts = [
            int(line.split("recorded ")[1].split(",")[0])
            for line in deploy.log
            if "mqtt: final: received" in line
        ]
        assert len(counts) == 2 and sum(counts) == 2_000 and min(counts) > 0, counts
