"""The MQTT adapter's parsing, without a broker: topics, payloads, refusals (the broker round trips
are in tests/integration/test_mqtt_ingest.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from minan.firewatch.ingest.mqtt import parse_all, parse_url, topic_serial
from minan.firewatch.ingest.recorder import DeviceKey


def test_topics_name_the_device_by_serial() -> None:
    assert topic_serial("minan/v1/devices/JN-85-3/signals") == "JN-85-3"
    for topic in ("minan/v1/devices//signals", "minan/v2/devices/x/signals", "minan/v1/devices/x/other"):
        assert topic_serial(topic) is None


def test_parse_all_keeps_good_signals_and_says_why_the_others_are_refused() -> None:
    good = json.dumps({"type": "alarm", "code": "fire", "timestamp": "2026-11-20T10:02:03+08:00",
                       "message_id": "m-1"}).encode()  # fmt: skip
    items, positions, errors = parse_all([
        ("minan/v1/devices/S-1/signals", b"not json"),
        ("minan/v1/devices/S-1/signals", json.dumps({"type": "explode"}).encode()),
        ("minan/v1/devices/S-2/signals", good),
        ("other/topic", good),
        ("minan/v1/devices/S-3/signals", json.dumps({"type": "reading", "value": {"a": 1}}).encode()),
    ])  # fmt: skip
    assert errors == ["refused:payload", "refused:type", "", "refused:topic", "refused:value"]
    assert positions == [2]
    (item,) = items
    assert item.key == DeviceKey(serial="S-2")
    assert (item.signal.type, item.signal.code, item.signal.message_id) == ("alarm", "fire", "m-1")
    assert item.signal.at == dt.datetime(2026, 11, 20, 2, 2, 3, tzinfo=dt.UTC)


def test_the_broker_url() -> None:
    broker = parse_url("mqtt://ingest:p%40ss@broker.example:8883")
    assert (broker.host, broker.port, broker.username, broker.password) == (
        "broker.example",
        8883,
        "ingest",
        "p@ss",
    )
    assert parse_url("mqtt://127.0.0.1").port == 1883
    with pytest.raises(ValueError):
        parse_url("http://127.0.0.1:1883")
