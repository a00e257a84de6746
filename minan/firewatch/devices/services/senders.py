"""Unregistered GB/T 26875.3 senders: addresses that send frames but have no device in the registry.

The listener neither records nor confirms their frames by default (`MINAN_GB26875_UNKNOWN_SENDERS`,
deny); it counts them in memory and writes a sighting per address at most once a minute
(`note_sightings`, the only writer, called from the listener's database thread — machine data like the
signals themselves, so no audit event). The device registry lists them
(`selectors.unregistered_senders`) until a device is registered at the address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from minan.firewatch.models import UnregisteredSender
from minan.institutions.models import Institution
from minan.regions.models import Region

DENY = UnregisteredSender.Answer.DENY
CONFIRM = UnregisteredSender.Answer.CONFIRM


@dataclass
class Sighting:
    gb_address: int
    peer: str
    frames: int
    first_at: dt.datetime
    last_at: dt.datetime


def answer_setting() -> str:
    """`deny` (default) or `confirm` — what an unknown address's upload gets back."""
    value = str(getattr(settings, "GB26875_UNKNOWN_SENDERS", DENY) or DENY).strip().lower()
    return CONFIRM if value == CONFIRM else DENY


def listener_region_path() -> str:
    """Where unregistered senders are placed: the region `MINAN_GB26875_REGION` names, else the
    smallest region holding every institution (the city, in a city deployment)."""
    code = str(getattr(settings, "GB26875_REGION", "") or "").strip()
    if code:
        region = Region.objects.filter(code=code).only("region_path").first()
        if region is not None:
            return region.region_path
    paths = (
        Institution.objects.exclude(region_path="")
        .order_by("region_path")
        .values_list("region_path", flat=True)
    )
    first, last = paths.first(), paths.last()
    if not first or not last:
        return ""
    common = 0
    for a, b in zip(first.split("/"), last.split("/"), strict=False):
        if a != b or not a:
            break
        common += 1
    return "".join(f"{part}/" for part in first.split("/")[:common])


def note_sightings(sightings: list[Sighting], answer: str, *, region_path: str | None = None) -> None:
    """Add the frames counted since the last call; one row per address."""
    if not sightings:
        return
    place = listener_region_path() if region_path is None else region_path
    for seen in sightings:
        with transaction.atomic():
            updated = UnregisteredSender.objects.filter(gb_address=seen.gb_address).update(
                frames=F("frames") + seen.frames,
                last_seen_at=seen.last_at,
                peer=seen.peer[:64],
                answer=answer,
            )
            if updated:
                continue
            try:
                with transaction.atomic():
                    UnregisteredSender.objects.create(
                        gb_address=seen.gb_address,
                        region_path=place,
                        peer=seen.peer[:64],
                        answer=answer,
                        frames=seen.frames,
                        first_seen_at=seen.first_at,
                        last_seen_at=seen.last_at,
                    )
            except IntegrityError:  # another listener wrote the first sighting meanwhile
                UnregisteredSender.objects.filter(gb_address=seen.gb_address).update(
                    frames=F("frames") + seen.frames, last_seen_at=seen.last_at, peer=seen.peer[:64]
                )
