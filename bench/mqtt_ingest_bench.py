"""Sustained MQTT ingest into PostgreSQL, and fire-alarm latency (`make bench-ingest`, part of `make bench`).

Same broker (a private Mosquitto configured as docs/operations.md says), same run:

1. baseline: one plain paho-mqtt subscriber (QoS 1, persistent session, nothing done per message)
   drains a backlog of N messages — the raw rate one Python subscriber reaches here;
2. `minan ingest` (a real subprocess) drains the same backlog into the database: half heartbeats
   (coalesced), half readings (stored), over 5,000 devices — sustained signals/s and its ratio to 1;
3. latency: `minan ingest` running, the same traffic as in 2 (half heartbeats, half readings) published
   at half the rate measured in 2, with a fire alarm on a new device every 20 ms; latency = from the
   publisher's clock at publish to the alarm row (committed, with its first notification written in
   the same transaction) being visible to a reader polling every 10 ms (so up to 10 ms too high),
   p50 / p99; baseline: the same for a plain subscriber receiving the fire alarms from the broker;
4. backlog: `minan ingest` down while N messages of the same traffic are queued for
   its session, with 50 fire alarms at spread positions, each on a device that also has heartbeats
   and readings in the backlog; then started: each alarm's recorded time (its signal row, committed
   with the alarm, seen by a reader polling every 10 ms) minus the moment ingest connected (its log
   line), max and p50, and the time to drain the whole backlog.

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _mqtt_load import RawPublisher  # noqa: E402

from tests.integration.harness import Deployment, deployment, mosquitto  # noqa: E402

BACKLOG = int(os.environ.get("BENCH_MQTT_MESSAGES", "100000"))
DEVICES = 5000
FIRES = int(os.environ.get("BENCH_FIRE_ALARMS", "300"))
BACKLOG_FIRES = int(os.environ.get("BENCH_BACKLOG_FIRE_ALARMS", "50"))
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


def publish_backlog(url: str, total: int, tag: str, fires: int = 0) -> None:
    """Half heartbeats, half readings over the devices; with `fires`, that many fire alarms spread evenly
    through it (message ids `<tag>-fire-<k>`), each on a device of its own that also has heartbeats and
    readings in the backlog (not one of the latency phase's alarm devices)."""
    pub = client(url, f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.loop_start()
    infos = []
    every = total // fires if fires else 0
    fire_at = {every * k + every // 2: k for k in range(fires)}
    for n in range(total):
        serial = f"IT-{n % DEVICES:05d}"
        if n in fire_at:
            serial = f"IT-{fire_at[n] * 90 % (DEVICES - FIRES):05d}"
            payload: dict[str, object] = {
                "type": "alarm",
                "code": "fire",
                "message_id": f"{tag}-fire-{fire_at[n]}",
            }
        elif n % 2 == 0:
            payload = {"type": "heartbeat"}
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


def ingest_rate(deploy: Deployment, url: str, raw: float) -> float:
    """`minan ingest` drains a backlog of BACKLOG signals: signals/s."""
    deploy.start_ingest()
    deploy.stop_ingest()  # the persistent session now exists: the backlog queues for it
    publish_backlog(url, BACKLOG, "ingest")
    last = f"ingest-{BACKLOG - 1 if (BACKLOG - 1) % 2 else BACKLOG - 2}"
    deploy.log.clear()
    deploy.start_ingest()
    started = time.perf_counter()
    while not deploy.query(f"SELECT COUNT(*) FROM firewatch_signal WHERE message_id = '{last}'")[0][0]:
        time.sleep(0.05)
        if time.perf_counter() - started > 600:
            raise SystemExit("ingest did not finish the backlog in 10 minutes")
    # The last message's recording process may be done before the other's last part is committed.
    while (stored := deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0]) < BACKLOG // 2:
        time.sleep(0.01)
        if time.perf_counter() - started > 600:
            raise SystemExit(f"stored {stored} readings, expected {BACKLOG // 2}")
    elapsed = time.perf_counter() - started
    assert stored == BACKLOG // 2, f"stored {stored} readings, expected {BACKLOG // 2}"
    rate = BACKLOG / elapsed
    print(f"minan ingest: {rate:,.0f} signals/s ({stored:,} readings stored, heartbeats coalesced)"
          f" = {rate / raw:.2f} of the raw subscriber")  # fmt: skip
    return rate


def publish_at_rate(url: str, rate: float, answer: Any) -> None:
    """(A process of its own.) The traffic of `ingest_rate` (heartbeats and readings) at `rate`, with a fire
    alarm every 20 ms, each on a device of its own (the last FIRES devices), all QoS 1. Every message is
    written when its time comes (a lean publisher: paho would cost the load generator most of a core).
    Sends back the rate reached."""
    pub = RawPublisher(url, f"bench-lat-{uuid.uuid4().hex[:6]}")
    interval = 1 / rate
    fire_every = max(1, round(0.02 / interval))
    n = fires = 0
    begin = time.perf_counter()
    while fires < FIRES:
        while n <= (time.perf_counter() - begin) / interval and fires < FIRES:
            if n % fire_every == 0:
                serial = f"IT-{DEVICES - FIRES + fires:05d}"
                payload: dict[str, object] = {"type": "alarm", "code": "fire", "timestamp": time.time(),
                                              "message_id": f"f-{fires}"}  # fmt: skip
                fires += 1
            else:
                serial = f"IT-{n % (DEVICES - FIRES):05d}"
                payload = (
                    {"type": "heartbeat"}
                    if n % 2
                    else {"type": "reading", "code": "temperature", "value": 21, "message_id": f"l-{n}"}
                )
            pub.publish(TOPIC.format(serial), json.dumps(payload).encode())
            n += 1
        pub.flush()
        time.sleep(max(0.0, begin + n * interval - time.perf_counter()))
    answer.send(n / (time.perf_counter() - begin))
    if not pub.wait_acked(n, 30):
        print(f"the broker acknowledged {pub.acked} of {n} messages")
    pub.close()


def alarm_latency(deploy: Deployment, url: str, rate: float) -> tuple[float, float, float, float, float]:
    """Heartbeats and readings published at `rate` with a fire alarm every 20 ms: p50 and p99 latency (ms) of the fire
    alarms, the same for a plain subscriber receiving them from the broker (the baseline), and the rate
    reached."""
    import multiprocessing

    import psycopg

    sniffed: dict[str, float] = {}

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        data = json.loads(message.payload)
        sniffed[data["message_id"]] = time.time() - data["timestamp"]

    sniffer = client(url, f"bench-sniff-{uuid.uuid4().hex[:6]}")
    sniffer.on_message = on_message
    sniffer.subscribe([(TOPIC.format(f"IT-{DEVICES - FIRES + i:05d}"), 1) for i in range(FIRES)])
    sniffer.loop_start()
    seen: dict[int, float] = {}
    unnotified: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        # Alarms of two recording processes commit out of id order: ask for every one not seen yet.
        with psycopg.connect(deploy.database_url, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT a.id, EXTRACT(EPOCH FROM a.first_at), "
                    "(SELECT COUNT(*) FROM notify_notification n WHERE n.event = 'firewatch.alarm' "
                    "AND n.link = '/firewatch/alarms/' || a.id || '/') "
                    "FROM firewatch_alarm a WHERE a.kind = 'fire' AND NOT a.id = ANY(%s)",
                    (list(seen),),
                ).fetchall()
                now = time.time()
                for alarm_id, published, notes in rows:
                    if not notes:
                        unnotified.append(alarm_id)
                    seen[alarm_id] = now - float(published)
                time.sleep(0.01)

    def watch_logged() -> None:
        try:
            watch()
        except Exception as exc:  # shown, not swallowed by the thread
            print(f"watcher failed: {exc!r}")
            raise

    watcher = threading.Thread(target=watch_logged)
    watcher.start()
    context = multiprocessing.get_context("fork")
    answer, child_end = context.Pipe()
    publisher = context.Process(target=publish_at_rate, args=(url, rate, child_end))
    publisher.start()
    sent_rate = answer.recv()
    deadline = time.monotonic() + 30
    while len(seen) < FIRES and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    publisher.join(40)
    sniffer.loop_stop()
    sniffer.disconnect()
    if unnotified:
        raise SystemExit(f"{len(unnotified)} fire alarms were committed without their notification")
    if len(seen) < FIRES:
        print("".join(deploy.log[-30:]))
        raise SystemExit(f"only {len(seen)} of {FIRES} fire alarms arrived within 30 s")
    p50, p99 = percentiles(seen.values())
    b50, b99 = percentiles(sniffed.values())
    print(f"latency at {sent_rate:,.0f} signals/s: {len(seen)} fire alarms, p50 {p50:.0f} ms, p99 {p99:.0f} ms "
          f"(a plain subscriber receives them: p50 {b50:.0f} ms, p99 {b99:.0f} ms)")  # fmt: skip
    return p50, p99, b50, b99, sent_rate


def backlog_alarms(deploy: Deployment, url: str) -> tuple[float, float, float]:
    """Ingest down, BACKLOG messages queued with BACKLOG_FIRES fire alarms among them, ingest started: the
    max and p50 (ms) of each alarm's recorded time minus the moment ingest connected, and the seconds
    until the whole backlog was recorded."""
    import psycopg

    deploy.stop_ingest()
    publish_backlog(url, BACKLOG, "backlog", fires=BACKLOG_FIRES)
    ids = [f"backlog-fire-{k}" for k in range(BACKLOG_FIRES)]
    every = BACKLOG // BACKLOG_FIRES
    fire_places = {every * k + every // 2 for k in range(BACKLOG_FIRES)}
    last = max(n for n in range(BACKLOG) if n % 2 and n not in fire_places)
    alarms_before = deploy.query("SELECT COUNT(*) FROM firewatch_alarm WHERE kind = 'fire'")[0][0]
    expected = deploy.query("SELECT COUNT(*) FROM firewatch_signal")[0][0] + BACKLOG // 2 + BACKLOG_FIRES
    seen: dict[str, float] = {}
    drained: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(deploy.database_url, autocommit=True) as conn:
            while not stop.is_set():
                wanted = [i for i in ids if i not in seen]
                rows = conn.execute("SELECT message_id FROM firewatch_signal WHERE message_id = ANY(%s)",
                                    (wanted,)).fetchall()  # fmt: skip
                now = time.monotonic()
                for (message_id,) in rows:
                    seen[message_id] = now
                if not drained and conn.execute("SELECT COUNT(*) FROM firewatch_signal WHERE message_id = %s",
                                                (f"backlog-{last}",)).fetchall()[0][0]:  # fmt: skip
                    # then every row (the other recording process may still commit its last part)
                    while conn.execute("SELECT COUNT(*) FROM firewatch_signal").fetchall()[0][0] < expected:
                        if stop.wait(0.01):
                            return
                    drained.append(time.monotonic())
                if drained and len(seen) == len(ids):
                    return
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    deploy.stamped.clear()
    deploy.start_ingest()
    connected = next(at for at, line in deploy.stamped if "MQTT connected" in line)
    watcher.join(600)
    stop.set()
    alarms = deploy.query("SELECT COUNT(*) FROM firewatch_alarm WHERE kind = 'fire'")[0][0] - alarms_before
    if len(seen) < BACKLOG_FIRES or alarms != BACKLOG_FIRES or not drained:
        raise SystemExit(
            f"backlog: {len(seen)} alarm signals seen, {alarms} fire alarms raised, drained: {bool(drained)}"
        )
    delays = sorted((at - connected) * 1000 for at in seen.values())
    by_place = ", ".join(
        f"{every * k + every // 2:,}: {(seen[i] - connected) * 1000:.0f}" for k, i in enumerate(ids)
    )
    print(
        f"backlog: ms from reconnecting to each fire alarm recorded, by its place in the backlog: {by_place}"
    )
    drain = drained[0] - connected
    print(f"backlog of {BACKLOG:,} with {BACKLOG_FIRES} fire alarms: every alarm recorded within {delays[-1]:.0f} ms"
          f" of reconnecting (p50 {statistics.median(delays):.0f} ms); backlog recorded in {drain:.1f} s"
          f" ({BACKLOG / drain:,.0f} signals/s)")  # fmt: skip
    return delays[-1], statistics.median(delays), drain


def percentiles(seconds: Iterable[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def main() -> None:
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ["DATABASE_URL"] = base
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with mosquitto(tmp) as url, deployment(tmp, url, DEVICES, staff=True) as deploy:
            if os.environ.get("BENCH_ONLY") == "backlog":  # the backlog phase alone (while working on it)
                deploy.start_ingest()  # the session, for the backlog to queue for
                backlog_alarms(deploy, url)
                return
            raw = raw_subscriber_rate(url)
            print(f"raw subscriber: {raw:,.0f} msg/s over {BACKLOG:,} messages")
            rate = ingest_rate(deploy, url, raw)
            p50, p99, b50, b99, sent_rate = alarm_latency(deploy, url, rate / 2)
            worst, middle, drain = backlog_alarms(deploy, url)
            print()
            print("| raw subscriber | minan ingest | ratio | alarm latency p50 / p99 (at rate) "
                  "| plain subscriber p50 / p99 | backlog: alarms recorded after reconnect, max (p50); drained |")  # fmt: skip
            print(f"| {raw:,.0f} msg/s | {rate:,.0f} signals/s | **{rate / raw:.2f}** | "
                  f"{p50:.0f} / {p99:.0f} ms (at {sent_rate:,.0f}/s) | {b50:.0f} / {b99:.0f} ms | "
                  f"{worst:.0f} ms ({middle:.0f} ms); {drain:.1f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
