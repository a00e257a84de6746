"""Shared set-up of the device registry tests."""

from __future__ import annotations

from typing import Any

from minan.firewatch.devices import services as device_services
from minan.firewatch.models import Device


def register(actor: Any, institution: Any, serial: str, **fields: Any) -> Device:
    values: dict[str, Any] = {
        "type": "water_pressure",
        "name": "管网压力",
        "protocol": "mqtt",
        "serial": serial,
    }
    values.update(fields)
    return device_services.create_device(actor, institution, **values)


def raw(institution: Any, serial: str, **fields: Any) -> Device:
    """A device written directly (for rows outside the actor's scope)."""
    values: dict[str, Any] = {"type": "smoke", "name": "烟感", "protocol": "mqtt"}
    values.update(fields)
    return Device.objects.create(
        institution=institution, region_path=institution.region_path, serial=serial, **values
    )
