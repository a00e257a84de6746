"""Sending: `notify()`, which every module calls, and `notify_many()` for batches, which write what the
engine plans and queue it for the worker once the caller's transaction commits; one try of a delivery
(the worker's `deliver_task`), the retries, the next medium after the last failure, the periodic sweep
and the digests of low-urgency messages. Queueing and delivering live in one module because a delivery
queues its own retries and its failure notice.

Concurrency rules:
- a delivery is sent by whoever moves it from `pending` to `sending` with a conditional UPDATE; a
  `sending` claim older than MINAN_NOTIFY_STALE_CLAIM_SECONDS (a worker that died) is put back to
  `pending` by the sweep, so nothing is lost across a restart (a receiver may then see a message twice:
  every payload carries its delivery id to drop repeats);
- the rate limits count `DeliveryAttempt` rows, and an attempt row is written under a lock of the
  channel row (or, for SMS, of the gateway channel) before the request goes out, so several workers
  together never exceed a channel's limit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from minan.accounts.models import User
from minan.accounts.roles import SYSTEM_ADMIN

from .. import transports
from ..models import Channel, Delivery, DeliveryAttempt, Medium, Notification, Urgency
from .engine import Message, plan
from .preferences import _address, _language, sms_channel


def notify(
    recipients: Iterable[User],
    event: str,
    context: dict[str, Any],
    urgency: str | None = None,
    *,
    link: str = "",
    channels: Iterable[Channel] = (),
    place: str = "",
    inbox_only: bool = False,
) -> list[Notification]:
    """Tell people (and group channels) about an event.

    Each active recipient gets an inbox entry in their language and one delivery over the first of
    their media that can reach them (the others are its escalation order). Group channels named in
    `channels`, and active channels subscribed to the event whose place contains `place`, get one
    delivery each. Low urgency is held for the digest; quiet hours delay all but urgent messages.
    Everything is written in the caller's transaction and sent after it commits.
    """
    return notify_many([Message(recipients, event, context, urgency, link, channels, place, inbox_only)])


def notify_many(messages: Sequence[Message]) -> list[Notification]:
    """`notify` for many events at once (sweeps), planned as one batch."""
    created, pending = plan(messages)
    if pending:
        transaction.on_commit(lambda: _enqueue(pending))
    return created


@db_task()
def deliver_task(delivery_id: int) -> str:
    return deliver(delivery_id)


def _enqueue(ids: Sequence[int], eta: dt.datetime | None = None) -> None:
    for pk in ids:
        if eta is None:
            deliver_task(pk)
        else:
            deliver_task.schedule((pk,), eta=eta)


def _defer(delivery: Delivery, until: dt.datetime, reason: str) -> str:
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, next_attempt_at=until, claimed_at=None, last_error=reason[:500]
    )
    transaction.on_commit(lambda: _enqueue([delivery.pk], eta=until))
    return "deferred"


def _reserve(delivery: Delivery, channel: Channel | None, now: dt.datetime) -> DeliveryAttempt | dt.datetime:
    """Write the attempt row if the limits allow a request now; else return when to try again.

    Runs under a lock of the channel row, so the count and the new row are one step for every worker."""
    if channel is not None:
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        if channel.paused_until and channel.paused_until > now:
            return channel.paused_until
        # Every channel has its per-minute limit, the SMS gateway included.
        window = list(
            DeliveryAttempt.objects.filter(channel=channel, at__gt=now - dt.timedelta(seconds=60))
            .order_by("at")
            .values_list("at", flat=True)
        )
        if len(window) >= channel.per_minute:
            return window[len(window) - channel.per_minute] + dt.timedelta(seconds=60)
    if delivery.medium == Medium.SMS:
        midnight = timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time()))
        sent_today = DeliveryAttempt.objects.filter(
            medium=Medium.SMS, address=delivery.address, at__gte=midnight
        )
        if sent_today.count() >= settings.SMS_PER_NUMBER_PER_DAY:
            return midnight + dt.timedelta(days=1)
    return DeliveryAttempt.objects.create(
        delivery=delivery, channel=channel, medium=delivery.medium, address=delivery.address, at=now
    )


def deliver(delivery_id: int) -> str:
    """Try one delivery once, if it is due and nobody else holds it. Returns what happened."""
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=Delivery.Status.SENDING, claimed_at=now)
    )
    if not claimed:
        return "not due"
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    with transaction.atomic():
        reserved = _reserve(delivery, channel, now)
        if not isinstance(reserved, DeliveryAttempt):
            return _defer(delivery, reserved, "rate limit")
    started = time.monotonic()
    outcome = transports.send(delivery, channel)
    latency = int((time.monotonic() - started) * 1000)
    DeliveryAttempt.objects.filter(pk=reserved.pk).update(
        ok=outcome.ok, status_code=outcome.status_code, error=outcome.error[:500], latency_ms=latency
    )
    with transaction.atomic():
        if outcome.ok:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.DELIVERED, attempts=delivery.attempts + 1, delivered_at=timezone.now(),
                claimed_at=None, last_error="",
            )  # fmt: skip
            return "delivered"
        if outcome.pause_seconds and channel is not None:
            # The receiver throttles us: pause the channel and come back, without using up an attempt.
            until = now + dt.timedelta(seconds=outcome.pause_seconds)
            Channel.objects.filter(pk=channel.pk).update(paused_until=until)
            return _defer(delivery, until, outcome.error)
        attempts = delivery.attempts + 1
        if attempts < settings.NOTIFY_MAX_ATTEMPTS:
            wait = settings.NOTIFY_RETRY_SECONDS * 2 ** (attempts - 1)
            Delivery.objects.filter(pk=delivery.pk).update(attempts=attempts)
            delivery.attempts = attempts
            return _defer(delivery, now + dt.timedelta(seconds=wait), outcome.error)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, attempts=attempts, claimed_at=None, last_error=outcome.error[:500]
        )
        delivery.attempts = attempts
        _after_final_failure(delivery, outcome.error)
    return "failed"


def _after_final_failure(delivery: Delivery, error: str) -> None:
    """Try the recipient's next medium, and tell the system administrators (inbox only)."""
    escalation = list(delivery.escalation or [])
    recipient = delivery.recipient
    while escalation and recipient is not None:
        medium = escalation.pop(0)
        address = _address(recipient, medium)
        gateway = sms_channel() if medium == Medium.SMS else None
        if address and (medium != Medium.SMS or gateway is not None):
            nxt = Delivery.objects.create(
                notification=delivery.notification, recipient=recipient, medium=medium, address=address,
                channel=gateway, event=delivery.event, urgency=delivery.urgency, subject=delivery.subject,
                body=delivery.body, escalation=escalation,
            )  # fmt: skip
            transaction.on_commit(lambda pk=nxt.pk: _enqueue([pk]))  # type: ignore[misc]
            break
    if delivery.event != "notify.delivery_failed":
        admins = User.objects.filter(is_active=True, role_grants__role=SYSTEM_ADMIN)
        notify(
            admins, "notify.delivery_failed",
            {"medium": Medium(delivery.medium).label, "subject": delivery.subject, "attempts": delivery.attempts,
             "error": error or "?"},
            link="/notify/deliveries/?status=failed", inbox_only=True,
        )  # fmt: skip


def sweep() -> int:
    """Put stale claims back (a worker died while sending) and try every due delivery. Periodic."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.NOTIFY_STALE_CLAIM_SECONDS)
    Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lt=stale).update(
        status=Delivery.Status.PENDING, claimed_at=None, next_attempt_at=now
    )
    due = Delivery.objects.filter(status=Delivery.Status.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    done = 0
    for pk in due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:5000]:
        if deliver(pk) == "delivered":
            done += 1
    return done


def run_digests() -> int:
    """Group the held (low-urgency) messages of each destination into one digest, once the oldest has
    waited MINAN_NOTIFY_DIGEST_MINUTES. Periodic; returns the number of digests made."""
    now = timezone.now()
    ripe = now - dt.timedelta(minutes=settings.NOTIFY_DIGEST_MINUTES)
    held = Delivery.objects.filter(status=Delivery.Status.HELD)
    keys = (
        held.filter(created_at__lte=ripe)
        .values_list("recipient_id", "channel_id", "medium", "address")
        .distinct()
    )
    made = 0
    for recipient_id, channel_id, medium, address in list(keys):
        with transaction.atomic():
            parts = list(
                held.select_for_update()
                .filter(recipient_id=recipient_id, channel_id=channel_id, medium=medium, address=address)
                .order_by("created_at", "pk")
            )
            if not parts:
                continue
            recipient = User.objects.filter(pk=recipient_id).first() if recipient_id else None
            language = _language(recipient) if recipient else settings.LANGUAGE_CODE
            with translation.override(language):
                subject = _("MinAn: %(n)d reminders") % {"n": len(parts)}
            body = "\n".join(f"{i}. {p.subject}" for i, p in enumerate(parts, start=1))
            digest = Delivery.objects.create(
                recipient_id=recipient_id, channel_id=channel_id, medium=medium, address=address,
                event=parts[0].event if len({p.event for p in parts}) == 1 else "digest",
                urgency=Urgency.LOW, subject=subject, body=body[:20000], escalation=parts[0].escalation,
            )  # fmt: skip
            Delivery.objects.filter(pk__in=[p.pk for p in parts]).update(
                status=Delivery.Status.DIGESTED, digest=digest
            )
            transaction.on_commit(lambda pk=digest.pk: _enqueue([pk]))  # type: ignore[misc]
            made += 1
    return made
