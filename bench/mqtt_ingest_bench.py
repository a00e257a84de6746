"""Sustained MQTT ingest into PostgreSQL, and fire-alarm latency (`make bench-ingest`, part of `make bench`).

Same broker (a private Mosquitto configured as docs/operations.md says), same run:

1. baseline: one plain paho-mqtt subscriber (QoS 1, persistent session, nothing done per message)
   drains a backlog of N messages — the raw rate one Python subscriber reaches here;
2. `minan ingest` (a real subprocess) drains the same backlog into the database: half heartbeats
   (coalesced), half readings (stored), over 5,000 devices — sustained signals/s and its ratio to 1;
3. latency: `minan ingest` running, readings published at half the rate measured in 2, with a fire
   alarm on a new device every 20 ms; latency = from the publisher's clock at publish to the alarm
   row (committed, with its first notification written in the same transaction) being visible to a
   reader polling every 10 ms (so up to 10 ms too high). p50 / p99.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres: a throw-away
database is created next to it) and the mosquitto binary.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.harness import deployment, mosquitto  # noqa: E402

BACKLOG = int(os.environ.get("BENCH_MQTT_MESSAGES", "100000"))
DEVICES = 5000
FIRES = int(os.environ.get("BENCH_FIRE_ALARMS", "300"))
TOPIC = "minan/v1/devices/{}/signals"


def client(url: str, client_id: str, *, persistent: bool = False) -> mqtt.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    props = None
    if persistent:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 10000
    c.connect(host, int(port), clean_start=not persistent, properties=props)
    return c


def publish_backlog(url: str, total: int, tag: str) -> None:
    pub = client(url, f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.loop_start()
    infos = []
    for n in range(total):
        serial = f"IT-{n % DEVICES:05d}"
        if n % 2 == 0:
            payload: dict[str, object] = {"type": "heartbeat"}
        else:
            payload = {"type": "reading", "code": "temperature", "value": 20 + n % 9, "unit": "℃",
                       "message_id": f"{tag}-{n}"}  # fmt: skip
        infos.append(pub.publish(TOPIC.format(serial), json.dumps(payload), qos=1))
        if len(infos) == 20_000:  # message ids wrap at 65,535: never have more outstanding
            for info in infos:
                info.wait_for_publish(60)
            infos.clear()
    for info in infos:
        info.wait_for_publish(60)
    pub.loop_stop()
    pub.disconnect()


def raw_subscriber_rate(url: str) -> float:
    received = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        if not first:
            first.append(time.perf_counter())
        received += 1
        if received == BACKLOG:
            done.set()

    sub_id = f"bench-raw-{uuid.uuid4().hex[:6]}"
    sub = client(url, sub_id, persistent=True)
    sub.subscribe(TOPIC.format("+"), qos=1)
    sub.loop(1)
    sub.disconnect()
    publish_backlog(url, BACKLOG, "raw")
    sub = client(url, sub_id, persistent=True)
    sub.on_message = on_message
    sub.loop_start()
    done.wait(300)
    elapsed = time.perf_counter() - first[0]
    sub.loop_stop()
    sub.disconnect()
    # End the baseline's session, or the broker would keep queueing every later message for it.
    client(url, sub_id).disconnect()
    return received / elapsed


def main() -> None:
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ["DATABASE_URL"] = base
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with mosquitto(tmp) as url, deployment(tmp, url, DEVICES, staff=True) as deploy:
            raw = raw_subscriber_rate(url)
            print(f"raw subscriber: {raw:,.0f} msg/s over {BACKLOG:,} messages")

            # 2. minan ingest drains the same backlog.
            deploy.start_ingest()
            deploy.stop_ingest()  # the persistent session now exists: the backlog queues for it
            publish_backlog(url, BACKLOG, "ingest")
            last = f"ingest-{BACKLOG - 1 if (BACKLOG - 1) % 2 else BACKLOG - 2}"
            deploy.log.clear()
            deploy.start_ingest()
            started = time.perf_counter()
            while not deploy.query(f"SELECT COUNT(*) FROM firewatch_signal WHERE message_id = '{last}'")[0][
                0
            ]:
                time.sleep(0.05)
                if time.perf_counter() - started > 600:
                    raise SystemExit("ingest did not finish the backlog in 10 minutes")
            elapsed = time.perf_counter() - started
            stored = deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0]
            assert stored == BACKLOG // 2, f"stored {stored} readings, expected {BACKLOG // 2}"
            rate = BACKLOG / elapsed
            print(f"minan ingest: {rate:,.0f} signals/s ({stored:,} readings stored, heartbeats coalesced)"
                  f" = {rate / raw:.2f} of the raw subscriber")  # fmt: skip

            # 3. latency at half the sustained rate.
            half = rate / 2
            pub = client(url, f"bench-lat-{uuid.uuid4().hex[:6]}")
            pub.loop_start()
            seen: dict[int, float] = {}
            unnotified: list[int] = []
            stop = threading.Event()

            def watch() -> None:
                last_id = 0
                import psycopg

                with psycopg.connect(deploy.database_url, autocommit=True) as conn:
                    while not stop.is_set():
                        rows = conn.execute(
                            "SELECT a.id, a.device_id, EXTRACT(EPOCH FROM a.first_at), "
                            "(SELECT COUNT(*) FROM notify_notification n WHERE n.event = 'firewatch.alarm' "
                            "AND n.link = '/firewatch/alarms/' || a.id || '/') "
                            "FROM firewatch_alarm a WHERE a.kind = 'fire' AND a.id > %s ORDER BY a.id",
                            (last_id,),
                        ).fetchall()
                        now = time.time()
                        for alarm_id, _device, published, notes in rows:
                            if not notes:
                                unnotified.append(alarm_id)
                            seen[alarm_id] = now - float(published)
                            last_id = max(last_id, alarm_id)
                        time.sleep(0.01)

            def watch_logged() -> None:
                try:
                    watch()
                except Exception as exc:  # shown, not swallowed by the thread
                    print(f"watcher failed: {exc!r}")
                    raise

            watcher = threading.Thread(target=watch_logged)
            watcher.start()
            interval = 1 / half
            fire_every = max(1, int(0.02 / interval))
            n = 0
            fires = 0
            begin = time.perf_counter()
            while fires < FIRES:
                target = begin + n * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if n % fire_every == 0:
                    payload = {
                        "type": "alarm",
                        "code": "fire",
                        "timestamp": time.time(),
                        "message_id": f"f-{fires}",
                    }
                    pub.publish(TOPIC.format(f"IT-{fires % DEVICES:05d}"), json.dumps(payload), qos=1)
                    fires += 1
                else:
                    payload = {"type": "reading", "code": "temperature", "value": 21, "message_id": f"l-{n}"}
                    pub.publish(TOPIC.format(f"IT-{n % DEVICES:05d}"), json.dumps(payload), qos=1)
                n += 1
            sent_rate = n / (time.perf_counter() - begin)
            deadline = time.monotonic() + 30
            while len(seen) < FIRES and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            watcher.join()
            pub.loop_stop()
            pub.disconnect()
            if unnotified:
                raise SystemExit(f"{len(unnotified)} fire alarms were committed without their notification")
            if len(seen) < FIRES:
                print("".join(deploy.log[-30:]))
                raise SystemExit(f"only {len(seen)} of {FIRES} fire alarms arrived within 30 s")
            latencies = sorted(seen.values())
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            print(f"latency at {sent_rate:,.0f} signals/s: {len(latencies)} fire alarms, p50 {p50:.0f} ms, "
                  f"p99 {p99:.0f} ms")  # fmt: skip
            print()
            print("| raw subscriber | minan ingest | ratio | alarm latency p50 / p99 (at rate) |")
            print(f"| {raw:,.0f} msg/s | {rate:,.0f} signals/s | **{rate / raw:.2f}** | "
                  f"{p50:.0f} / {p99:.0f} ms (at {sent_rate:,.0f}/s) |")  # fmt: skip


if __name__ == "__main__":
    main()
