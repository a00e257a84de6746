"""Reads of the notification tables shared by the pages and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from minan.regions.models import Region

from . import events
from .models import Delivery, Medium


def filter_deliveries(queryset: QuerySet[Delivery], params: Any) -> QuerySet[Delivery]:
    """The delivery-log filters (`status`, `medium`, `channel`, `event`); unknown values are ignored."""
    qs = queryset
    if params.get("status", "") in Delivery.Status.values:
        qs = qs.filter(status=params["status"])
    if params.get("medium", "") in Medium.values:
        qs = qs.filter(medium=params["medium"])
    if (channel := params.get("channel", "")).isdigit():
        qs = qs.filter(channel_id=int(channel))
    if params.get("event", "") in events.EVENTS:
        qs = qs.filter(event=params["event"])
    return qs.order_by("-created_at", "-id")


def channel_values(channel: Any) -> dict[str, Any]:
    """A channel's editable values (the secret excepted), as the form and the API's PATCH start from."""
    return {
        "name": channel.name,
        "kind": channel.kind,
        "url": channel.url,
        "region": Region.objects.filter(region_path=channel.region_path).first(),
        "per_minute": channel.per_minute,
        "events": list(channel.events or []),
        "active": channel.active,
    }
