"""How a message leaves MinAn: one function per medium, each returning an `Outcome`.

Formats:
- webhook: POST JSON; headers `X-MinAn-Timestamp` (Unix seconds) and `X-MinAn-Signature`
  (`sha256=` + hex HMAC-SHA256 of `timestamp + "." + body` with the channel secret);
- WeCom group robot: POST {"msgtype": "text", "text": {"content": …}}; errcode 0 = sent;
- DingTalk custom robot: POST {"msgtype": "text", "text": {"content": …}} to the webhook address
  plus `&timestamp=<ms>&sign=<url-encoded base64 HMAC-SHA256(secret, timestamp + "\\n" + secret)>`;
- SMS: a pluggable gateway (`MINAN_SMS_GATEWAY`, dotted path); the default posts JSON
  {"phone", "text", "id"} to the SMS channel's address, signed like a webhook;
- email: Django's mail backend (SMTP settings from the environment).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

from minan.core import limits

from . import crypto
from .models import Channel, Delivery, Medium

# Vendor answers that mean "too many requests": back off, never drop.
WECOM_RATE_LIMITED = {45009}
DINGTALK_RATE_LIMITED = {130101, 410100}
DINGTALK_PAUSE_SECONDS = 600  # DingTalk throttles a robot for 10 minutes after its limit
WECOM_PAUSE_SECONDS = 60


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    pause_seconds: int = 0  # the receiver asked us to slow down: pause the channel this long


def payload(delivery: Delivery) -> dict[str, Any]:
    """The generic JSON a webhook receives. `id` lets a receiver drop a repeated delivery."""
    return {
        "id": delivery.pk,
        "event": delivery.event,
        "urgency": delivery.urgency,
        "subject": delivery.subject,
        "body": delivery.body,
        "created_at": delivery.created_at.isoformat() if delivery.created_at else None,
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's algorithm: url-encode(base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)))."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(mac).decode())


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    if not url.startswith(("https://", "http://")):  # checked when the channel is saved; be sure here too
        raise ValueError("only http(s) addresses")
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.NOTIFY_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536) if exc.fp else b""


def _signed_json(url: str, secret: str, data: dict[str, Any]) -> Outcome:
    body = json.dumps(data, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {"X-MinAn-Timestamp": timestamp}
    if secret:
        headers["X-MinAn-Signature"] = webhook_signature(secret, timestamp, body)
    code, _answer = _post(url, body, headers)
    if 200 <= code < 300:
        return Outcome(True, code)
    return Outcome(False, code, f"HTTP {code}", pause_seconds=60 if code == 429 else 0)


def _robot_text(delivery: Delivery) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": f"{delivery.subject}\n{delivery.body}".strip()}}


def _robot_answer(code: int, answer: bytes, limited: set[int], pause: int) -> Outcome:
    if not 200 <= code < 300:
        return Outcome(False, code, f"HTTP {code}")
    try:  # the robot's answer is read within the API's body limits: a hostile reply cannot crash the worker
        errcode = int(limits.loads(answer or b"{}").get("errcode", 0))
    except (ValueError, TypeError, AttributeError, limits.BodyRefused):
        return Outcome(False, code, "unreadable answer")
    if errcode == 0:
        return Outcome(True, code)
    return Outcome(False, code, f"errcode {errcode}", pause_seconds=pause if errcode in limited else 0)


def send_wecom(channel: Channel, delivery: Delivery) -> Outcome:
    code, answer = _post(channel.url, json.dumps(_robot_text(delivery), ensure_ascii=False).encode(), {})
    return _robot_answer(code, answer, WECOM_RATE_LIMITED, WECOM_PAUSE_SECONDS)


def send_dingtalk(channel: Channel, delivery: Delivery) -> Outcome:
    url = channel.url
    secret = crypto.decrypt(channel.secret_encrypted)
    if secret:
        timestamp = str(int(time.time() * 1000))
        url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
    code, answer = _post(url, json.dumps(_robot_text(delivery), ensure_ascii=False).encode(), {})
    return _robot_answer(code, answer, DINGTALK_RATE_LIMITED, DINGTALK_PAUSE_SECONDS)


def send_webhook(channel: Channel, delivery: Delivery) -> Outcome:
    return _signed_json(channel.url, crypto.decrypt(channel.secret_encrypted), payload(delivery))


class SmsGateway(Protocol):
    def send(self, channel: Channel, phone: str, text: str, delivery: Delivery) -> Outcome: ...


class WebhookSmsGateway:
    """The default gateway: a signed JSON POST that a vendor adapter (Aliyun, Tencent, a carrier's
    platform) receives and forwards; MinAn stays free of any vendor's SDK."""

    def send(self, channel: Channel, phone: str, text: str, delivery: Delivery) -> Outcome:
        data = {"id": delivery.pk, "phone": phone, "text": text, "event": delivery.event}
        return _signed_json(channel.url, crypto.decrypt(channel.secret_encrypted), data)


def sms_gateway() -> SmsGateway:
    return import_string(settings.SMS_GATEWAY)()


def send_sms(channel: Channel, delivery: Delivery) -> Outcome:
    text = f"{delivery.subject}：{delivery.body}".strip("：")[:500]
    return sms_gateway().send(channel, delivery.address, text, delivery)


def send_email(delivery: Delivery) -> Outcome:
    sent = send_mail(delivery.subject, delivery.body, None, [delivery.address], fail_silently=False)
    return Outcome(bool(sent), None, "" if sent else "not accepted")


SENDERS = {
    Medium.WEBHOOK: send_webhook,
    Medium.WECOM: send_wecom,
    Medium.DINGTALK: send_dingtalk,
    Medium.SMS: send_sms,
}


def send(delivery: Delivery, channel: Channel | None) -> Outcome:
    """Send once; network and protocol errors become a failed outcome (the caller retries)."""
    try:
        if delivery.medium == Medium.EMAIL:
            return send_email(delivery)
        if channel is None:
            return Outcome(False, None, "no channel configured")
        return SENDERS[Medium(delivery.medium)](channel, delivery)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return Outcome(False, None, str(exc)[:300] or exc.__class__.__name__)
