"""The MQTT adapter's connection, without a broker: a plain subscription unless a
share group is configured, a subscription on every connection, a quick first reconnect then a growing
pause. The broker restart drills are in tests/integration/test_broker_drills.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from minan.firewatch.ingest.mqtt import RECONNECT_FIRST, RECONNECT_MAX, TOPIC, MqttAdapter

ROOT = Path(__file__).resolve().parents[3]


class FakeClient:
    """What `MqttAdapter.pump` and `_on_connect` use of paho's client."""

    def __init__(self) -> None:
        self.subscribed: list[tuple[str, int]] = []
        self.reconnects = 0
        self.connected = False

    def subscribe(self, topic: str, qos: int) -> None:
        self.subscribed.append((topic, qos))

    def loop(self, _timeout: float) -> mqtt.MQTTErrorCode:
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS if self.connected else mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN

    def socket(self) -> None:
        return None

    def reconnect(self) -> None:
        self.reconnects += 1
        raise ConnectionRefusedError("broker down")


class Waits:
    """Stands in for `stopping.wait`: records each pause instead of sleeping."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.pauses.append(seconds)
        return False

    def is_set(self) -> bool:
        return False


def adapter(share_group: str = "") -> tuple[MqttAdapter, FakeClient, Waits]:
    a = MqttAdapter("mqtt://127.0.0.1:1", client_id="minan-test", share_group=share_group)
    fake, waits = FakeClient(), Waits()
    a.client = fake  # type: ignore[assignment]
    a.stopping = waits  # type: ignore[assignment]
    return a, fake, waits


def connected(a: MqttAdapter, *, session_present: bool = True) -> None:
    reason = SimpleNamespace(is_failure=False)
    a._on_connect(a.client, None, SimpleNamespace(session_present=session_present), reason, None)


def test_without_a_share_group_the_adapter_subscribes_plainly_on_every_connection() -> None:
    a, fake, _waits = adapter()
    connected(a)
    connected(a)  # a reconnection (a restarted broker): subscribed again at once
    assert fake.subscribed == [(TOPIC, 1), (TOPIC, 1)]
    assert TOPIC == "minan/v1/devices/+/signals"


def test_with_a_share_group_the_adapter_subscribes_to_the_shared_topic_on_every_connection() -> None:
    a, fake, _waits = adapter("minan")
    connected(a)
    connected(a)
    assert fake.subscribed == [(f"$share/minan/{TOPIC}", 1)] * 2


def test_the_default_share_group_is_empty_a_plain_subscription() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MINAN_MQTT_SHARE_GROUP"}
    env["MINAN_ENV"] = "test"
    done = subprocess.run(
        [sys.executable, "-c", "from minan import settings; print(repr(settings.MQTT_SHARE_GROUP))"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "''"


def test_the_first_reconnect_is_quick_then_the_pause_doubles_up_to_30_s() -> None:
    a, fake, waits = adapter()
    for _ in range(12):
        a.pump(0)
    assert RECONNECT_FIRST == 0.1 and RECONNECT_MAX == 30.0
    expected = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]
    assert [round(p, 3) for p in waits.pauses] == expected
    assert fake.reconnects == 12


def test_a_connection_makes_the_next_reconnect_quick_again() -> None:
    a, _fake, waits = adapter()
    for _ in range(5):
        a.pump(0)
    connected(a)
    waits.pauses.clear()
    a.pump(0)  # the connection is lost again
    assert waits.pauses == [0.1]


def test_a_missing_session_is_logged(caplog: Any) -> None:
    a, _fake, _waits = adapter()
    with caplog.at_level("INFO", logger="minan.ingest.mqtt"):
        connected(a, session_present=True)
        assert "no session" not in caplog.text
        connected(a, session_present=False)
    assert "MQTT broker had no session for client id minan-test: a new one starts" in caplog.text


def test_the_subscription_is_logged_when_the_broker_grants_it_and_an_error_when_it_refuses(
    caplog: Any,
) -> None:
    a, _fake, _waits = adapter()
    with caplog.at_level("INFO", logger="minan.ingest.mqtt"):
        a._on_subscribe(a.client, None, 1, [ReasonCode(PacketTypes.SUBACK, "Granted QoS 1")], None)
        assert caplog.messages == [f"MQTT subscribed to {TOPIC}"]
        caplog.clear()
        a._on_subscribe(a.client, None, 2, [ReasonCode(PacketTypes.SUBACK, "Not authorized")], None)
    assert caplog.messages == [f"MQTT subscription to {TOPIC} refused: Not authorized"]
    assert caplog.records[0].levelname == "ERROR"
