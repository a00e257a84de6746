"""The one notification service and the delivery engine behind it.

`notify()` is what every module calls. It writes the inbox entries and the deliveries inside the
caller's transaction and hands them to the worker only when that transaction commits, so a
notification of a rolled-back change is never sent.

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
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template import Context
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from minan.accounts.models import User
from minan.accounts.roles import ROLE_LABELS, SYSTEM_ADMIN
from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import in_scope

from . import crypto, events, transports
from .models import (
    PERSONAL_MEDIA,
    Channel,
    Delivery,
    DeliveryAttempt,
    Medium,
    Notification,
    Preference,
    RoleDefault,
    Urgency,
    UserSettings,
)

logger = logging.getLogger(__name__)

# Media a person gets when neither they nor an administrator chose any.
DEFAULT_MEDIA: dict[str, list[str]] = {
    Urgency.LOW: [Medium.EMAIL],
    Urgency.NORMAL: [Medium.EMAIL],
    Urgency.URGENT: [Medium.SMS, Medium.EMAIL],
}
GROUP_MEDIA = {
    Channel.Kind.WEBHOOK: Medium.WEBHOOK,
    Channel.Kind.WECOM: Medium.WECOM,
    Channel.Kind.DINGTALK: Medium.DINGTALK,
}


# --- rendering -----------------------------------------------------------------------------------------------


def render(event: str, context: dict[str, Any], language: str) -> tuple[str, str]:
    """(subject, body) of an event's template in a language; the first line is the subject."""
    with translation.override(language):
        template = get_template(f"notify/events/{event}.txt")
        text = template.template.render(Context(context, autoescape=False))  # type: ignore[attr-defined]
    subject, _sep, body = text.strip().partition("\n")
    return subject.strip()[:200], body.strip()[:4000]


def _language(user: User) -> str:
    user_settings = getattr(user, "notify_settings", None)
    return (user_settings.language if user_settings else "") or settings.LANGUAGE_CODE


# --- who gets what, how ---------------------------------------------------------------------------------------


def media_for(
    user: User, event: str, urgency: str, role_defaults: dict[tuple[str, str], list[str]] | None = None
) -> list[str]:
    """The person's media for the event, in escalation order: their own choice for the event, else
    their choice for every event, else their roles' defaults (event, then every event), else the
    built-in default for the urgency. `role_defaults` may be passed preloaded (batch sends)."""
    own = {p.event: p.media for p in user.notify_preferences.all()}
    if event in own:
        return list(own[event])
    if "" in own:
        return list(own[""])
    if role_defaults is None:
        role_defaults = {
            (d.role, d.event): d.media for d in RoleDefault.objects.filter(role__in=user.role_codes)
        }
    for role in sorted(user.role_codes):
        if (role, event) in role_defaults:
            return list(role_defaults[(role, event)])
    for role in sorted(user.role_codes):
        if (role, "") in role_defaults:
            return list(role_defaults[(role, "")])
    return list(DEFAULT_MEDIA.get(urgency, [Medium.EMAIL]))


def sms_channel() -> Channel | None:
    return Channel.objects.filter(kind=Channel.Kind.SMS, active=True).order_by("pk").first()


def _address(user: User, medium: str) -> str:
    if medium == Medium.EMAIL:
        return user.email
    if medium == Medium.SMS:
        return user.phone
    return ""


def _quiet_until(user: User, now: dt.datetime) -> dt.datetime | None:
    """When the person's quiet hours end, if `now` falls inside them."""
    quiet = getattr(user, "notify_settings", None)
    if quiet is None or quiet.quiet_from is None or quiet.quiet_until is None:
        return None
    local = timezone.localtime(now)
    start, end, t = quiet.quiet_from, quiet.quiet_until, local.time()
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, end))


@dataclass
class Message:
    """One event to tell: the arguments of `notify`, for sending many in one batch (`notify_many`)."""

    recipients: Iterable[User]
    event: str
    context: dict[str, Any]
    urgency: str | None = None
    link: str = ""
    channels: Iterable[Channel] = ()
    place: str = ""
    inbox_only: bool = False


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
    """`notify` for many events at once (sweeps): people, preferences, role defaults and channels are
    read once for the whole batch, and the rows are inserted in bulk."""
    for message in messages:
        if message.event not in events.EVENTS:
            raise ValueError(f"unknown event {message.event!r}")
    now = timezone.now()
    wanted = {u.pk for m in messages for u in m.recipients if u is not None}
    people = {
        u.pk: u
        for u in User.objects.filter(pk__in=wanted, is_active=True)
        .select_related("notify_settings")
        .prefetch_related("notify_preferences", "role_grants")
    }
    for user in people.values():
        user._role_codes = frozenset(g.role for g in user.role_grants.all())
    role_defaults = {(d.role, d.event): d.media for d in RoleDefault.objects.all()}
    active = list(Channel.objects.filter(active=True).order_by("pk"))  # one query for both
    gateway = next((c for c in active if c.kind == Channel.Kind.SMS), None)  # as sms_channel()
    subscribed = [c for c in active if c.kind != Channel.Kind.SMS and c.events]
    notes: list[Notification] = []
    planned: list[tuple[int, Delivery]] = []  # (index of the notification, delivery)
    group_deliveries: list[Delivery] = []
    for message in messages:
        spec = events.EVENTS[message.event]
        urgency = message.urgency or spec.urgency
        rendered: dict[str, tuple[str, str]] = {}
        for pk in dict.fromkeys(u.pk for u in message.recipients if u is not None):
            user = people.get(pk)
            if user is None:
                continue
            language = _language(user)
            if language not in rendered:
                rendered[language] = render(message.event, message.context, language)
            subject, body = rendered[language]
            notes.append(Notification(recipient=user, event=message.event, urgency=urgency, subject=subject,
                                      body=body, link=message.link[:300]))  # fmt: skip
            if message.inbox_only:
                continue
            media = [
                m for m in media_for(user, message.event, urgency, role_defaults)
                if m in PERSONAL_MEDIA and _address(user, m) and (m != Medium.SMS or gateway is not None)
            ]  # fmt: skip
            if not media:
                continue
            first, rest = media[0], media[1:]
            planned.append((len(notes) - 1, Delivery(
                recipient=user, medium=first, address=_address(user, first),
                channel=gateway if first == Medium.SMS else None, event=message.event, urgency=urgency,
                subject=subject, body=body, escalation=rest,
                status=Delivery.Status.HELD if urgency == Urgency.LOW else Delivery.Status.PENDING,
                next_attempt_at=None if urgency == Urgency.URGENT else _quiet_until(user, now),
            )))  # fmt: skip
        group = {c.pk: c for c in message.channels if c.active}
        if message.place:
            for channel in subscribed:
                if message.event in channel.events and message.place.startswith(channel.region_path):
                    group.setdefault(channel.pk, channel)
        if group and not message.inbox_only:
            subject, body = render(message.event, message.context, settings.LANGUAGE_CODE)
            for channel in group.values():
                group_deliveries.append(Delivery(
                    channel=channel, medium=GROUP_MEDIA[Channel.Kind(channel.kind)], event=message.event,
                    urgency=urgency, subject=subject, body=body,
                    status=Delivery.Status.HELD if urgency == Urgency.LOW else Delivery.Status.PENDING,
                ))  # fmt: skip
    created = Notification.objects.bulk_create(notes)
    for index, delivery in planned:
        delivery.notification = created[index]
    saved = Delivery.objects.bulk_create([d for _i, d in planned] + group_deliveries)
    pending = [d.pk for d in saved if d.status == Delivery.Status.PENDING]
    if pending:
        transaction.on_commit(lambda: _enqueue(pending))
    return created


def _enqueue(ids: Sequence[int], eta: dt.datetime | None = None) -> None:
    from . import tasks  # cycle: tasks imports this module at load time

    for pk in ids:
        if eta is None:
            tasks.deliver_task(pk)
        else:
            tasks.deliver_task.schedule((pk,), eta=eta)


# --- the delivery engine ------------------------------------------------------------------------------------


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


# --- inbox -----------------------------------------------------------------------------------------------------


def mark_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when `ids` is None). Personal inbox
    state: not written to the audit trail."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


# --- preferences -------------------------------------------------------------------------------------------------


def _clean_media(media: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for medium in media:
        if medium not in PERSONAL_MEDIA:
            raise DomainError(_("Choose email or SMS."), field="media")
        if medium not in cleaned:
            cleaned.append(medium)
    return cleaned


@transaction.atomic
def save_preferences(
    actor: User,
    *,
    media: dict[str, list[str]],
    language: str = "",
    quiet_from: dt.time | None = None,
    quiet_until: dt.time | None = None,
    request: Any = None,
) -> None:
    """Replace the actor's own preferences: media per event ("" = every event), language, quiet hours."""
    unknown = set(media) - set(events.EVENTS) - {""}
    if unknown:
        raise DomainError(_("Unknown event."), field="media")
    if (quiet_from is None) != (quiet_until is None) or (
        quiet_from is not None and quiet_from == quiet_until
    ):
        raise DomainError(_("Give both ends of the quiet hours, or neither."), field="quiet_from")
    if language and language not in dict(settings.LANGUAGES):
        raise DomainError(_("Unknown language."), field="language")
    cleaned = {event: _clean_media(chosen) for event, chosen in media.items()}
    Preference.objects.filter(user=actor).delete()
    Preference.objects.bulk_create(Preference(user=actor, event=e, media=m) for e, m in cleaned.items())
    UserSettings.objects.update_or_create(
        user=actor, defaults={"language": language, "quiet_from": quiet_from, "quiet_until": quiet_until}
    )
    record("notify.preferences", user=actor, request=request, obj=actor,
           changes={"media": [None, cleaned], "quiet": [None, [str(quiet_from or ""), str(quiet_until or "")]]})  # fmt: skip


@transaction.atomic
def save_role_default(
    actor: User, role: str, event: str, media: list[str] | None, *, request: Any = None
) -> None:
    """Set the default media of a role for an event ("" = every event); `media=None` removes the default."""
    if not actor.has_perm("notify.change_roledefault"):
        raise NotPermitted(_("You do not have permission to do this."))
    if role not in ROLE_LABELS:
        raise DomainError(_("Unknown role."), field="role")
    if event and event not in events.EVENTS:
        raise DomainError(_("Unknown event."), field="event")
    before = RoleDefault.objects.filter(role=role, event=event).values_list("media", flat=True).first()
    cleaned = None if media is None else _clean_media(media)
    if cleaned is None:
        RoleDefault.objects.filter(role=role, event=event).delete()
    else:
        RoleDefault.objects.update_or_create(role=role, event=event, defaults={"media": cleaned})
    record("notify.role_default", user=actor, request=request, object_type="notify.roledefault",
           object_id=f"{role}:{event or '*'}", changes={"media": [before, cleaned]})  # fmt: skip


@transaction.atomic
def save_role_defaults(
    actor: User, role: str, changed: Mapping[str, list[str] | None], *, request: Any = None
) -> None:
    """Set several defaults of one role ({event: media}) at once: all are saved or none."""
    for event, media in changed.items():
        save_role_default(actor, role, event, media, request=request)


CHANNEL_FIELDS = ("name", "kind", "url", "per_minute", "events", "active", "region_path")

# --- channels -----------------------------------------------------------------------------------------------------


@transaction.atomic
def save_channel(
    actor: User, channel: Channel | None, *, name: str, kind: str, url: str, region: Any, per_minute: int,
    events_subscribed: list[str], active: bool, secret: str | None = None, request: Any = None,
) -> Channel:  # fmt: skip
    """Create or change a channel. `secret=None` keeps the stored secret; "" removes it."""
    secret = secret.strip() if secret is not None else None
    creating = channel is None
    if not actor.has_perm("notify.add_channel" if creating else "notify.change_channel"):
        raise NotPermitted(_("You do not have permission to do this."))
    if channel is not None and not Channel.objects.for_user(actor, "change").filter(pk=channel.pk).exists():
        raise OutOfScope(_("Channel not found."))
    if not in_scope(actor, region.region_path):
        raise DomainError(_("Choose a region inside your scope."), field="region")
    if kind not in Channel.Kind.values:
        raise DomainError(_("Unknown kind."), field="kind")
    if not url.startswith(("https://", "http://")):
        raise DomainError(_("The address must start with https:// or http://."), field="url")
    if not 1 <= per_minute <= 600:
        raise DomainError(_("Between 1 and 600 messages per minute."), field="per_minute")
    if set(events_subscribed) - set(events.EVENTS):
        raise DomainError(_("Unknown event."), field="events")
    if not name.strip():
        raise DomainError(_("Give the channel a name."), field="name")
    channel = channel or Channel()
    before = snapshot(channel, CHANNEL_FIELDS)
    channel.name, channel.kind, channel.url = name.strip()[:60], kind, url.strip()
    channel.region_path, channel.per_minute = region.region_path, per_minute
    channel.events, channel.active = sorted(set(events_subscribed)), active
    secret_changed = secret is not None and secret != crypto.decrypt(channel.secret_encrypted)
    if secret is not None:
        channel.secret_encrypted = crypto.encrypt(secret)
    channel.save()
    changes = diff(before, snapshot(channel, CHANNEL_FIELDS))
    if secret_changed:
        changes["secret"] = ["***", "***"]  # that it changed, never what it is
    record("notify.channel.create" if creating else "notify.channel.change", user=actor, request=request,
           obj=channel, changes=changes)  # fmt: skip
    return channel


def send_test(actor: User, channel: Channel, *, request: Any = None) -> Delivery:
    """A test message to a channel, sent now through the normal engine (so it is logged)."""
    if not actor.has_perm("notify.change_channel"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not Channel.objects.for_user(actor, "change").filter(pk=channel.pk).exists():
        raise OutOfScope(_("Channel not found."))
    subject, body = render("notify.test", {"channel": channel.name}, settings.LANGUAGE_CODE)
    medium = Medium.SMS if channel.kind == Channel.Kind.SMS else GROUP_MEDIA[Channel.Kind(channel.kind)]
    if medium == Medium.SMS and not actor.phone:
        raise DomainError(
            _("Your account has no mobile phone number to send the test SMS to."), field="phone"
        )
    delivery = Delivery.objects.create(
        channel=channel, medium=medium, address=actor.phone if medium == Medium.SMS else "", event="notify.test",
        urgency=Urgency.URGENT, subject=subject, body=body, recipient=actor if medium == Medium.SMS else None,
    )  # fmt: skip
    record("notify.channel.test", user=actor, request=request, obj=channel)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery
