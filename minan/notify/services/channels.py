"""Group channels and the SMS gateway: creating and changing them (the secret kept encrypted), and the
test message sent through the engine."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from minan.accounts.models import User
from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import in_scope

from .. import crypto, events
from ..models import Channel, Delivery, Medium, Urgency
from .delivery import deliver
from .engine import GROUP_MEDIA, render

CHANNEL_FIELDS = ("name", "kind", "url", "per_minute", "events", "active", "region_path")


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
