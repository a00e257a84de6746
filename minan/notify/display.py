"""What the pages and the API show of a delivery's destination and a channel: masked, never in full."""

from __future__ import annotations

from django.utils.translation import gettext as _

from minan.core.masking import mask_phone
from minan.regions import paths
from minan.regions.models import Region

from . import crypto
from .models import Channel, Delivery, Medium


def mask_email(address: str) -> str:
    """`z***@example.com`: the first character of the local part and the domain."""
    local, at, domain = address.strip().partition("@")
    if not at:
        return "*" * len(local)
    return f"{local[:1]}***@{domain}"


def destination(delivery: Delivery) -> str:
    """Where a delivery goes: the masked phone number or email address, else the channel's name.

    Reads `delivery.channel`: select it with the deliveries."""
    if delivery.medium == Medium.SMS and delivery.address:
        return mask_phone(delivery.address)
    if delivery.medium == Medium.EMAIL and delivery.address:
        return mask_email(delivery.address)
    if delivery.channel_id is not None and delivery.channel is not None:
        return delivery.channel.name
    return _("(nowhere)")


def secret_masked(channel: Channel) -> str:
    """The channel's secret as the UI and the API show it (first three and last four characters)."""
    return crypto.masked(crypto.decrypt(channel.secret_encrypted))


def region_code(region_path: str) -> str:
    """The code of the place a path ends at: `370000/370800/370811/` → `370811`."""
    return paths.own_code(region_path)


def region_names(paths: set[str]) -> dict[str, str]:
    """{region_path: name} for the given paths, in one query."""
    return dict(Region.objects.filter(region_path__in=paths).values_list("region_path", "name"))
