"""Broker drills: the broker is restarted or killed while fire alarms are on their
way, with the shipped configuration (deploy/mosquitto/minan.conf) and a real `minan ingest`.

(a) a broker restart (SIGTERM, start again with the same configuration and persistence) in the middle of
    a stream from a device gateway with a persistent session, which sends what it buffered the moment
    the broker is back: every fire alarm recorded once, with a repeat count of 1 (the fire alarms carry
    no message id: a redelivered one is recognised by device, kind and device time);
(b) a broker crash (SIGKILL) with a backlog queued for ingest while it was down: the backlog survives;
    the control shows that with Mosquitto's default autosave interval it does not;
(c) shared subscriptions (MINAN_MQTT_SHARE_GROUP set): ingest subscribes again at once after a broker
    restart; what was queued before the restart is kept, what devices publish after the restart and
    before ingest has subscribed again is lost (Mosquitto 2.0 does not restore shared subscriptions),
    which is why the default is a plain subscription.

Each drill (from the first message published to the last count) must end within `DRILL_SECONDS`; the
database set-up before it is not counted.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .harness import Deployment, Mosquitto, broker, deployment

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]

DEVICES = 50
FIRES = 50
DRILL_SECONDS = 60
FIRE_ALARMS_ONCE = (
    "SELECT d.serial, a.count FROM firewatch_alarm a JOIN firewatch_device d ON d.id = a.device_id "
    "WHERE a.kind = 'fire' ORDER BY d.serial"
)


def gateway(url: str, client_id: str = "") -> mqtt.Client:
    """A device gateway: MQTT 5, persistent session, QoS 1; while the broker is away it buffers what it
    publishes and sends it the moment it has reconnected (it retries every 50-200 ms)."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"it-gw-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
    acknowledged: set[int] = set()  # message ids the broker has acknowledged (PUBACK)
    client.user_data_set(acknowledged)
    client.on_publish = lambda _client, acked, mid, _reason, _props: acked.add(mid)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect(host, int(port), clean_start=False, properties=properties)
    client.loop_start()
    return client


def stream(total: int, fires: int, *, fire_ids: bool) -> list[tuple[str, dict[str, Any]]]:
    """`total` messages: a fire alarm on each of the first `fires` devices, spread evenly through
    temperature readings. Fire alarms carry the device's time; a message id only with `fire_ids`."""
    every = total // fires
    fire_at = {every * k + every // 2: k for k in range(fires)}
    start = dt.datetime.now(dt.UTC)
    out: list[tuple[str, dict[str, Any]]] = []
    for n in range(total):
        if n in fire_at:
            fire: dict[str, Any] = {"type": "alarm", "code": "fire",
                                    "timestamp": (start + dt.timedelta(milliseconds=n)).isoformat()}  # fmt: skip
            if fire_ids:
                fire["message_id"] = f"fire-{n}"
            out.append((f"IT-{fire_at[n]:05d}", fire))
        else:
            out.append((f"IT-{n % DEVICES:05d}", {"type": "reading", "code": "temperature", "value": 20 + n % 7,
                                                  "unit": "℃", "message_id": f"r-{n}"}))  # fmt: skip
    return out


def publish_all(
    client: mqtt.Client, messages: list[tuple[str, dict[str, Any]]]
) -> list[mqtt.MQTTMessageInfo]:
    return [
        client.publish(f"minan/v1/devices/{serial}/signals", json.dumps(payload), qos=1)
        for serial, payload in messages
    ]


def all_acknowledged(client: mqtt.Client, infos: list[mqtt.MQTTMessageInfo], timeout: float = 30) -> None:
    """Every message was acknowledged by the broker (PUBACK): the broker has taken it over. (Not paho's
    `wait_for_publish`, which raises for a message published while the connection was down, although
    paho sends it after reconnecting. Fewer than 65,536 messages a client: message ids are not reused.)"""
    acknowledged: set[int] = client.user_data_get()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(info.mid not in acknowledged for info in infos):
        time.sleep(0.05)
    assert [info.mid for info in infos if info.mid not in acknowledged] == []


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def count(deploy: Deployment, sql: str) -> int:
    return int(deploy.query(sql)[0][0])


def wait_for(deploy: Deployment, sql: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    value = -1
    while time.monotonic() < deadline:
        value = count(deploy, sql)
        if value >= expected:
            break
        time.sleep(0.2)
    time.sleep(1)  # anything redelivered late would show up now
    return count(deploy, sql)


def connections(deploy: Deployment) -> list[float]:
    """When ingest was subscribed (the broker's SUBACK), each time."""
    return [at for at, line in deploy.stamped if "MQTT subscribed" in line]


def restart(running: Mosquitto) -> float:
    """SIGTERM the broker (it saves its persistence file) and start it again; when it listens again."""
    running.stop()
    running.start()
    return time.monotonic()


def test_a_broker_restart_mid_stream_loses_no_fire_alarm_and_counts_none_twice(tmp_path: Path) -> None:
    total = 5_000
    with broker(tmp_path) as running, deployment(tmp_path, running.url, DEVICES) as deploy:
        deploy.start_ingest()  # the default: a plain subscription
        messages = stream(total, FIRES, fire_ids=False)
        began = time.monotonic()
        client = gateway(running.url)
        infos: list[mqtt.MQTTMessageInfo] = []
        restarted = threading.Event()

        def restart_broker() -> None:
            restart(running)
            restarted.set()

        def publish() -> None:
            for start in range(0, total, 250):
                infos.extend(publish_all(client, messages[start : start + 250]))
                if start == 2_000:  # the gateway keeps publishing (into its buffer while the broker is away)
                    threading.Thread(target=restart_broker).start()
                time.sleep(0.05)

        sender = threading.Thread(target=publish)
        sender.start()
        sender.join(25)
        assert restarted.wait(10) and not sender.is_alive()
        all_acknowledged(client, infos, 15)
        close(client)
        stored = wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", total, 15)
        assert len(connections(deploy)) >= 2  # ingest did reconnect to the restarted broker
        assert stored == total
        assert time.monotonic() - began < DRILL_SECONDS
        fires = deploy.query(FIRE_ALARMS_ONCE)
        assert fires == [(f"IT-{k:05d}", 1) for k in range(FIRES)]  # each once, no phantom repeat
        assert count(deploy, "SELECT COUNT(*) FROM firewatch_signal WHERE type = 'alarm'") == FIRES
        assert count(deploy, "SELECT COUNT(*) FROM firewatch_alarmevent WHERE action = 'repeated'") == 0


def backlog_then_crash(
    tmp_path: Path, *, wait: float = 20, **overrides: str
) -> tuple[int, int, list[tuple[Any, ...]]]:
    """Ingest subscribes then stops; 2,500 messages (50 fire alarms) are queued for it; 3.5 s later the
    broker is killed (SIGKILL) and started again, then ingest, given `wait` seconds to record them.
    (signals stored, size of the persistence file at the kill, fire alarms)."""
    total = 2_500
    with broker(tmp_path, **overrides) as running, deployment(tmp_path, running.url, DEVICES) as deploy:
        deploy.start_ingest()
        deploy.stop_ingest()
        began = time.monotonic()
        client = gateway(running.url)
        all_acknowledged(client, publish_all(client, stream(total, FIRES, fire_ids=True)), 15)
        close(client)
        time.sleep(3.5)  # a save has begun since (autosave_interval 1: one every 2 s) and ended
        size = running.database.stat().st_size if running.database.exists() else 0
        running.kill()
        running.start()
        deploy.start_ingest()
        stored = wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", total, wait)
        assert time.monotonic() - began < DRILL_SECONDS
        return stored, size, deploy.query(FIRE_ALARMS_ONCE)


def test_a_broker_crash_keeps_the_backlog_queued_for_ingest(tmp_path: Path) -> None:
    stored, size, fires = backlog_then_crash(tmp_path)
    assert stored == 2_500
    assert fires == [(f"IT-{k:05d}", 1) for k in range(FIRES)]
    assert size > 2_500 * 100  # the queue was in the persistence file when the broker was killed


def test_control_with_mosquittos_default_autosave_a_crash_loses_the_backlog(tmp_path: Path) -> None:
    """Why the shipped file sets `autosave_interval 1`: with the default (1,800 s) the same crash loses
    every queued message, all fire alarms included."""
    stored, _size, fires = backlog_then_crash(tmp_path, wait=3, autosave_interval="1800")
    assert (stored, fires) == (0, [])


def test_shared_subscription_restart_resubscribes_at_once_and_loses_what_came_before(tmp_path: Path) -> None:
    with broker(tmp_path) as running, deployment(tmp_path, running.url, DEVICES) as deploy:
        deploy.start_ingest(share_group="minan")
        began = time.monotonic()
        # 1. Ingest running: after a broker restart it is connected and subscribed again at once.
        back = restart(running)
        deadline = time.monotonic() + 10
        while len(connections(deploy)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(connections(deploy)) == 2
        assert connections(deploy)[1] - back < 0.6  # first retry after 0.1 s (it used to be 1 s)
        # 2. Ingest down: what is queued before a restart is kept; what devices publish after the restart
        # and before ingest has subscribed again goes nowhere; what follows is received.
        deploy.stop_ingest()
        time.sleep(0.5)
        client = gateway(running.url, "it-gw-shared")

        def batch(name: str) -> list[tuple[str, dict[str, Any]]]:
            return [
                (
                    f"IT-{n % DEVICES:05d}",
                    {"type": "reading", "code": "t", "value": n, "message_id": f"{name}-{n}"},
                )
                for n in range(100)
            ]

        all_acknowledged(client, publish_all(client, batch("before")))
        close(client)
        restart(running)
        client = gateway(running.url, "it-gw-shared")
        all_acknowledged(client, publish_all(client, batch("gap")))  # acknowledged by the broker, and lost
        deploy.start_ingest(share_group="minan")
        all_acknowledged(client, publish_all(client, batch("after")))
        close(client)
        wait_for(deploy, "SELECT COUNT(*) FROM firewatch_signal", 200, 20)
        kept = {
            name: count(deploy, f"SELECT COUNT(*) FROM firewatch_signal WHERE message_id LIKE '{name}-%'")  # noqa: S608
            for name in ("before", "gap", "after")
        }
        assert kept == {"before": 100, "gap": 0, "after": 100}
        assert time.monotonic() - began < DRILL_SECONDS
