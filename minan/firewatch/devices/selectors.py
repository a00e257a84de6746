"""Reads of the device registry shared by the pages and the API: the list filters, and the unregistered
GB/T 26875.3 senders still without a device."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from minan.firewatch.models import Device, UnregisteredSender


def filter_devices(
    qs: QuerySet[Device], params: Mapping[str, Any], *, now: dt.datetime | None = None
) -> QuerySet[Device]:
    """institution (id), type, protocol, status (online/offline/unknown), maintenance=1 (in a window now),
    active (1/0), q (name or serial)."""
    institution = str(params.get("institution") or "")
    if institution.isdigit():
        qs = qs.filter(institution_id=int(institution))
    for name, choices in (("type", Device.Type), ("protocol", Device.Protocol), ("status", Device.Status)):
        if params.get(name) in choices.values:
            qs = qs.filter(**{name: params[name]})
    if params.get("maintenance") == "1":
        now = now or timezone.now()
        qs = qs.filter(maintenance_until__gte=now).filter(
            Q(maintenance_from__isnull=True) | Q(maintenance_from__lte=now)
        )
    if params.get("active") in {"1", "0"}:
        qs = qs.filter(active=params["active"] == "1")
    q = str(params.get("q") or "").strip()[:100]
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(serial__icontains=q))
    return qs


def still_unregistered(senders: QuerySet[UnregisteredSender]) -> QuerySet[UnregisteredSender]:
    """Those whose address still has no device (registering one ends the entry), newest first."""
    registered = Device.objects.filter(gb_address=OuterRef("gb_address"))
    return (
        senders.annotate(registered=Exists(registered))
        .filter(registered=False)
        .order_by("-last_seen_at", "gb_address")
    )


def unregistered_senders(user: Any) -> QuerySet[UnregisteredSender]:
    return still_unregistered(UnregisteredSender.objects.for_user(user))
