"""The delivery engine against real HTTP receivers on 127.0.0.1: exact payloads and signatures,
retries, escalation, rate limits across a worker restart, digests, quiet hours, and transactions."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone

from minan.accounts.models import User
from minan.notify import crypto, services
from minan.notify.models import Channel, Delivery, DeliveryAttempt, Notification, Preference, UserSettings

T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a Monday


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server in a thread; `answer(n)` gives (status, body) for the n-th request (from 0)."""

    answer: Callable[[int], tuple[int, bytes]] = lambda n: (200, b'{"errcode": 0, "errmsg": "ok"}')
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def start(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urllib.parse.urlsplit(self.path)
                n = len(receiver.received)
                receiver.received.append(
                    Received(
                        parts.path,
                        dict(urllib.parse.parse_qsl(parts.query)),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                status, answer = receiver.answer(n)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    server = r.start()
    yield r
    server.shutdown()


@pytest.fixture(autouse=True)
def _clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def channel(
    tree: dict[str, Any], url: str, kind: str = "webhook", secret: str = "", per_minute: int = 20
) -> Channel:
    return Channel.objects.create(
        name=f"{kind} robot", kind=kind, url=url, secret_encrypted=crypto.encrypt(secret), per_minute=per_minute,
        region_path=tree["city"].region_path,
    )  # fmt: skip


def send(
    capture: Any,
    recipients: tuple[User, ...] | list[User] = (),
    event: str = "notify.test",
    urgency: str | None = None,
    **kw: Any,
) -> list[Notification]:
    with capture(execute=True):
        return services.notify(recipients, event, {"channel": "测试"}, urgency, **kw)


# --- formats ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_payload_and_signature(
    tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    hook = channel(tree, receiver.url, "webhook", secret="s3cr3t-webhook")
    send(django_capture_on_commit_callbacks, channels=[hook])
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 1
    [request] = receiver.received
    assert request.json == {
        "id": delivery.pk,
        "event": "notify.test",
        "urgency": "normal",
        "subject": "民安测试消息",
        "body": "这是民安发给 测试 的测试消息。如果您能看到这条消息，说明该通道工作正常。",
        "created_at": delivery.created_at.isoformat(),
    }
    timestamp = request.headers["x-minan-timestamp"]
    assert timestamp == str(int(T0.timestamp()))
    expected = hmac.new(
        b"s3cr3t-webhook", timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-minan-signature"] == f"sha256={expected}"
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.ok, attempt.status_code, attempt.error) == (True, 200, "")
    assert attempt.latency_ms is not None


@pytest.mark.django_db
def test_wecom_robot_payload(tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any) -> None:
    robot = channel(tree, receiver.url + "?key=abc", "wecom")
    send(django_capture_on_commit_callbacks, channels=[robot])
    [request] = receiver.received
    assert request.query == {"key": "abc"}
    assert request.json == {
        "msgtype": "text",
        "text": {
            "content": "民安测试消息\n这是民安发给 测试 的测试消息。如果您能看到这条消息，说明该通道工作正常。"
        },
    }
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


@pytest.mark.django_db
def test_dingtalk_robot_payload_and_signature(
    tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
    robot = channel(tree, receiver.url + "?access_token=tok", "dingtalk", secret=secret)
    send(django_capture_on_commit_callbacks, channels=[robot])
    [request] = receiver.received
    timestamp = str(int(T0.timestamp() * 1000))
    # The rate-limit rule, computed here independently of the code under test.
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert request.query == {
        "access_token": "tok",
        "timestamp": timestamp,
        "sign": base64.b64encode(digest).decode(),  # parse_qsl has undone the URL encoding
    }
    assert request.json["msgtype"] == "text" and request.json["text"]["content"].startswith("民安测试消息\n")
    assert Delivery.objects.get().status == Delivery.Status.DELIVERED


# --- retries, escalation -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_receiver_failing_three_times_then_succeeding(
    tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any, _clock: Any, settings: Any
) -> None:
    settings.NOTIFY_RETRY_SECONDS = 30
    receiver.answer = lambda n: (500, b"busy") if n < 3 else (200, b"{}")
    hook = channel(tree, receiver.url)
    send(django_capture_on_commit_callbacks, channels=[hook])
    delivery = Delivery.objects.get()
    waits: list[float] = []
    while delivery.status != Delivery.Status.DELIVERED and len(waits) < 10:
        assert delivery.next_attempt_at is not None
        waits.append((delivery.next_attempt_at - timezone.now()).total_seconds())
        _clock.shift(delivery.next_attempt_at - timezone.now())
        with django_capture_on_commit_callbacks(execute=False):
            services.sweep()
        delivery.refresh_from_db()
    assert waits == [30, 60, 120]  # exponential back-off
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 4
    assert list(DeliveryAttempt.objects.order_by("at").values_list("ok", "status_code")) == [
        (False, 500), (False, 500), (False, 500), (True, 200),
    ]  # fmt: skip
    assert {r.json["id"] for r in receiver.received} == {delivery.pk} and len(receiver.received) == 4


@pytest.mark.django_db
def test_final_failure_escalates_to_the_next_medium_and_tells_administrators(
    tree: Any, receiver: Receiver, make_user: Any, django_capture_on_commit_callbacks: Any, _clock: Any,
    settings: Any,
) -> None:  # fmt: skip
    settings.NOTIFY_MAX_ATTEMPTS = 3
    receiver.answer = lambda n: (503, b"down")
    channel(tree, receiver.url, "sms")
    person = make_user("person", roles=["county_officer"], region=tree["rencheng"])
    User.objects.filter(pk=person.pk).update(phone="13800001111", email="person@example.cn")
    admin = make_user("admin", roles=["system_admin"], region=tree["city"])
    Preference.objects.create(user=person, event="", media=["sms", "email"])
    send(django_capture_on_commit_callbacks, [User.objects.get(pk=person.pk)])
    sms = Delivery.objects.get(medium="sms")
    for _i in range(5):
        if sms.next_attempt_at:
            _clock.shift(sms.next_attempt_at - timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep()
        sms.refresh_from_db()
    assert sms.status == Delivery.Status.FAILED and sms.attempts == 3
    assert [r.json["phone"] for r in receiver.received] == ["13800001111"] * 3
    email = Delivery.objects.get(medium="email")
    assert email.status == Delivery.Status.DELIVERED and email.escalation == []
    assert [m.to for m in mail.outbox] == [["person@example.cn"]]
    [alert] = Notification.objects.filter(recipient=admin)
    assert alert.event == "notify.delivery_failed" and "503" in alert.body
    assert not Delivery.objects.filter(event="notify.delivery_failed").exists()  # inbox only: no loop


# --- rate limits ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_100_urgent_messages_to_one_robot_respect_20_a_minute_across_a_worker_restart(
    tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any, _clock: Any
) -> None:
    robot = channel(tree, receiver.url, "wecom", per_minute=20)
    with django_capture_on_commit_callbacks(execute=True):
        for _i in range(100):
            services.notify([], "notify.test", {"channel": "x"}, "urgent", channels=[robot])
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 20
    # A worker claims five deliveries and dies before sending them.
    crashed = list(Delivery.objects.filter(status=Delivery.Status.PENDING).values_list("pk", flat=True)[:5])
    Delivery.objects.filter(pk__in=crashed).update(status=Delivery.Status.SENDING, claimed_at=timezone.now())
    for _minute in range(30):
        _clock.shift(dt.timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=False):
            services.sweep()
        if not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists():
            break
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 100
    assert len({r.body for r in receiver.received}) == 1 and len(receiver.received) == 100
    times = sorted(DeliveryAttempt.objects.values_list("at", flat=True))
    assert len(times) == 100
    busiest = max(sum(1 for t in times if start <= t < start + dt.timedelta(seconds=60)) for start in times)
    assert busiest == 20


@pytest.mark.django_db
def test_a_throttled_dingtalk_robot_pauses_for_ten_minutes_without_losing_the_message(
    tree: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any, _clock: Any
) -> None:
    receiver.answer = lambda n: (
        (200, b'{"errcode": 130101, "errmsg": "send too fast"}') if n == 0 else (200, b"{}")
    )
    robot = channel(tree, receiver.url + "?access_token=t", "dingtalk")
    send(django_capture_on_commit_callbacks, channels=[robot])
    delivery = Delivery.objects.get()
    robot.refresh_from_db()
    assert robot.paused_until == T0 + dt.timedelta(minutes=10)
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 0
    _clock.shift(dt.timedelta(minutes=9))
    services.sweep()
    assert len(receiver.received) == 1
    _clock.shift(dt.timedelta(minutes=1, seconds=1))
    services.sweep()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and len(receiver.received) == 2


@pytest.mark.django_db
def test_sms_to_one_number_are_limited_per_day_and_queued(
    tree: Any, receiver: Receiver, make_user: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.SMS_PER_NUMBER_PER_DAY = 2
    channel(tree, receiver.url, "sms")
    person = make_user("p", roles=["cadre"], region=tree["rencheng"])
    User.objects.filter(pk=person.pk).update(phone="13900002222")
    Preference.objects.create(user=person, event="", media=["sms"])
    for _i in range(3):
        send(django_capture_on_commit_callbacks, [User.objects.get(pk=person.pk)])
    statuses = list(Delivery.objects.order_by("pk").values_list("status", "next_attempt_at"))
    midnight = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)  # 00:00 in Shanghai
    assert statuses == [("delivered", None), ("delivered", None), ("pending", midnight)]
    assert len(receiver.received) == 2


# --- transactions, digests, quiet hours --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_notification_in_a_rolled_back_transaction_is_never_sent(
    tree: Any, receiver: Receiver, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    hook = channel(tree, receiver.url)
    person = make_user("p", roles=["cadre"], region=tree["rencheng"])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.notify([person], "notify.test", {"channel": "x"}, channels=[hook])
        raise RuntimeError("the caller's change failed")
    assert callbacks == []
    assert not Notification.objects.exists() and not Delivery.objects.exists()
    services.sweep()
    assert receiver.received == []


@pytest.mark.django_db
def test_low_urgency_messages_become_one_digest(
    tree: Any, make_user: Any, django_capture_on_commit_callbacks: Any, _clock: Any, settings: Any
) -> None:
    settings.NOTIFY_DIGEST_MINUTES = 60
    person = make_user("p", roles=["cadre"], region=tree["rencheng"])
    User.objects.filter(pk=person.pk).update(email="p@example.cn")
    person.refresh_from_db()
    for n in range(12):
        with django_capture_on_commit_callbacks(execute=True):
            services.notify(
                [person], "duty.visits_overdue", {"rows": [{"institution": f"机构{n}", "due": "2026-11-01"}]}
            )
    assert Notification.objects.filter(recipient=person).count() == 12  # every one is in the inbox
    assert Delivery.objects.filter(status=Delivery.Status.HELD).count() == 12 and mail.outbox == []
    assert services.run_digests() == 0  # not ripe yet
    _clock.shift(dt.timedelta(minutes=61))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_digests() == 1
    [message] = mail.outbox
    assert message.subject == "民安：12 条提醒"
    assert message.body.count("\n") == 11 and message.body.startswith("1. 1 个机构的包保督查已逾期")
    assert Delivery.objects.filter(status=Delivery.Status.DIGESTED).count() == 12


@pytest.mark.django_db
def test_quiet_hours_delay_all_but_urgent_messages(
    tree: Any, make_user: Any, django_capture_on_commit_callbacks: Any, _clock: Any
) -> None:
    _clock.move_to(dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC))  # 23:00 in Shanghai
    person = make_user("p", roles=["cadre"], region=tree["rencheng"])
    User.objects.filter(pk=person.pk).update(email="p@example.cn")
    UserSettings.objects.create(user=person, quiet_from=dt.time(22), quiet_until=dt.time(7))
    person = User.objects.get(pk=person.pk)
    send(django_capture_on_commit_callbacks, [person], urgency="normal")
    send(django_capture_on_commit_callbacks, [person], urgency="urgent")
    normal, urgent = Delivery.objects.order_by("pk")
    assert normal.status == Delivery.Status.PENDING
    assert normal.next_attempt_at == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)  # 07:00 next morning
    assert urgent.status == Delivery.Status.DELIVERED and len(mail.outbox) == 1


@pytest.mark.django_db
def test_messages_are_rendered_in_the_recipients_language(
    tree: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    chinese = make_user("zh", roles=["cadre"], region=tree["rencheng"])
    english = make_user("en", roles=["cadre"], region=tree["rencheng"])
    UserSettings.objects.create(user=english, language="en")
    send(django_capture_on_commit_callbacks, [chinese, User.objects.get(pk=english.pk)])
    subjects = dict(Notification.objects.values_list("recipient__username", "subject"))
    assert subjects == {"zh": "民安测试消息", "en": "MinAn test message"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent workers need a server database")
def test_three_workers_together_never_exceed_the_limit_or_send_twice(tree: Any, receiver: Receiver) -> None:
    robot = channel(tree, receiver.url, "wecom", per_minute=20)
    Delivery.objects.bulk_create(
        Delivery(
            channel=robot, medium="wecom", event="notify.test", urgency="urgent", subject=f"m{n}", body=""
        )
        for n in range(60)
    )
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            services.sweep()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 20
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 40
    assert DeliveryAttempt.objects.count() == 20
    subjects = [r.json["text"]["content"] for r in receiver.received]
    assert len(subjects) == 20 and len(set(subjects)) == 20


def test_a_robot_answer_nested_deeply_is_unreadable_not_a_crash() -> None:
    from minan.notify.transports import _robot_answer

    deep = b"[" * 100_000 + b"]" * 100_000
    outcome = _robot_answer(200, deep, set(), 0)
    assert (outcome.ok, outcome.error) == (False, "unreadable answer")
    assert _robot_answer(200, b'{"errcode": 0}', set(), 0).ok is True
