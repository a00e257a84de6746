"""`minan ingest`'s fast lane for alarms over a real Mosquitto and PostgreSQL: after an
outage, a fire alarm queued behind tens of thousands of readings is recorded long before them — behind
more than the main session's 65,535 unacknowledged messages too, found by the alarm session — and
everything is still recorded once and acknowledged.

Needs the `mosquitto` binary and PostgreSQL (DATABASE_URL): with SQLite, whose writers take turns,
there is no fast lane."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from .harness import deployment, mosquitto
from .test_mqtt_ingest import publisher, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.mqtt,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"
    ),
]

READINGS = 30_000
# Behind this many, the main session alone cannot even be sent the alarm before 130,000 - 65,535 of
# the readings are committed and acknowledged.
DEEP_READINGS = 130_000


@pytest.mark.parametrize("readings", [READINGS, DEEP_READINGS])
def test_an_alarm_queued_behind_a_backlog_of_readings_is_recorded_before_them(
    tmp_path: Path, readings: int
) -> None:
    with mosquitto(tmp_path) as url, deployment(tmp_path, url, 50, staff=True) as deploy:
        deploy.start_ingest()
        deploy.stop_ingest()  # the sessions exist: what follows queues for them
        client = publisher(url)
        infos: list[mqtt.MQTTMessageInfo] = []
        for n in range(readings):
            payload = {"type": "reading", "code": "temperature", "value": 20 + n % 7, "message_id": f"r-{n}"}
            infos.append(
                client.publish(f"minan/v1/devices/IT-{n % 49:05d}/signals", json.dumps(payload), qos=1)
            )
            if len(infos) == 5_000:
                for info in infos:
                    info.wait_for_publish(30)
                infos.clear()
        fire = {"type": "alarm", "code": "fire", "message_id": "fire-1"}
        infos.append(client.publish("minan/v1/devices/IT-00049/signals", json.dumps(fire), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        client.loop_stop()
        client.disconnect()

        deploy.start_ingest()
        assert wait_for(deploy, "SELECT COUNT(*) FROM firewatch_alarm WHERE kind = 'fire'", 1, 30) == 1
        readings_then = deploy.query("SELECT COUNT(*) FROM firewatch_signal WHERE type = 'reading'")[0][0]
        print(f"readings recorded when the alarm was: {readings_then:,} of {readings:,}")
        # Before the fast lane it was committed with the last batch, after ~29,000 of 30,000; without
        # the alarm session, after at least 64,465 of 130,000.
        assert readings_then < min(readings // 2, 50_000), (
            "the alarm waited for the readings queued before it"
        )
        assert wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", readings + 1, 120) == readings + 1
        time.sleep(1)
        deploy.stop_ingest()
        # Everything recorded once and acknowledged: nothing is delivered again to the next session.
        deploy.start_ingest()
        time.sleep(2)
        deploy.stop_ingest()
        assert deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0] == readings + 1
        assert deploy.query("SELECT COUNT(*) FROM firewatch_signal WHERE message_id = 'fire-1'")[0][0] == 1
        finals = [line for line in deploy.log if "mqtt: final" in line]
        assert finals[-2].split("received ")[1].startswith("0,"), finals
        assert finals[-1].strip().endswith("alarm session received 0"), (
            finals
        )  # both sessions acknowledged all
        escalated = deploy.query("SELECT COUNT(*) FROM firewatch_alarmevent WHERE action = 'escalated'")[0][0]
        assert escalated == 1
