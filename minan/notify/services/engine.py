"""The notification engine: `plan()` works out, for a batch of messages, who gets what over which
medium, and writes the inbox entries and the deliveries in the caller's transaction. `notify()` and
`notify_many()` (in `delivery`) call it and hand the deliveries to the worker when that transaction
commits, so a notification of a rolled-back change is never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template import Context
from django.template.loader import get_template
from django.utils import timezone, translation

from minan.accounts.models import User

from .. import events
from ..models import PERSONAL_MEDIA, Channel, Delivery, Medium, Notification, RoleDefault, Urgency
from .preferences import _address, _language, _quiet_until, media_for

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


# --- telling people ------------------------------------------------------------------------------------------


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


def plan(messages: Sequence[Message]) -> tuple[list[Notification], list[int]]:
    """Write the inbox entries and deliveries of a batch of messages; return the entries and the ids of
    the deliveries to send now. People, preferences, role defaults and channels are read once for the
    whole batch, and the rows are inserted in bulk."""
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
    return created, [d.pk for d in saved if d.status == Delivery.Status.PENDING]
