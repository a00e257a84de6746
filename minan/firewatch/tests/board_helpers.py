"""Devices and alarms for the board, history, figures and chain tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from minan.firewatch.ingest.services import SignalIn, record_signal, severity_of
from minan.firewatch.models import Alarm, Device

_serial = iter(range(1, 1_000_000))


def device(
    institution: Any, *, type: str = "smoke", name: str = "", status: str = "online", **fields: Any
) -> Device:
    n = next(_serial)
    values = {"building": "1号楼", "floor": "3F", "room": f"30{n % 10}", **fields}
    return Device.objects.create(
        institution=institution, region_path=institution.region_path, type=type, name=name or f"烟感{n}",
        protocol="mqtt", serial=f"B-{n}", status=status, **values,
    )  # fmt: skip


def fire(dev: Device, at: dt.datetime | None = None) -> Alarm:
    """A real fire alarm with its escalation started (record_signal)."""
    outcome = record_signal(dev, SignalIn("alarm", "fire"), now=at)
    assert outcome.alarm is not None
    return Alarm.objects.get(pk=outcome.alarm.pk)


def alarm(dev: Device, kind: str, first_at: dt.datetime, **fields: Any) -> Alarm:
    """An alarm written directly (figures with known numbers)."""
    return Alarm.objects.create(
        device=dev, institution_id=dev.institution_id, region_path=dev.region_path, kind=kind,
        severity=severity_of(dev, kind), first_at=first_at, last_at=first_at, **fields,
    )  # fmt: skip
