"""GB/T 26875.3 frames from an address with no registered device: logged, not acted
on — denied by default (MINAN_GB26875_UNKNOWN_SENDERS), never sent a clock sync — and listed in the
device registry as unregistered senders for the people who keep the registry of the listener's region."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

import minan.settings
from conftest import login_client
from minan.firewatch.devices import services as device_services
from minan.firewatch.ingest import gb26875 as gb
from minan.firewatch.ingest import gb_server
from minan.firewatch.ingest.gb_client import GbDevice
from minan.firewatch.models import Alarm, Device, Signal, UnregisteredSender
from minan.firewatch.simulator.gb_devices import run_gb_devices

from .test_gb26875 import CENTRE, CENTRE_TIME
from .test_gb_server import Raw, run

pytestmark = pytest.mark.django_db(transaction=True)

STRANGER = 424242


async def no_clock_sync(raw: Raw) -> None:
    """Nothing but the replies we asked for: no command 1 (clock sync) arrives within half a second."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(raw.next((1,)), 0.5)


def test_unknown_address_is_denied_not_synced_and_written_as_a_sighting(
    institutions: dict[str, Any], caplog: Any
) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, STRANGER, centre=CENTRE) as device:
            assert (await device.fire(1, 1, 5)).command == 6
            assert (await device.heartbeat()).command == 6
            assert (await device.heartbeat()).command == 6

    with caplog.at_level(logging.INFO, logger="minan.ingest.gb"):
        server = run(scenario)
    assert server.stats.unknown_senders == 3 and server.stats.denies == 3 and server.stats.confirms == 0
    assert not Signal.objects.exists() and not Alarm.objects.exists()
    (sender,) = UnregisteredSender.objects.all()
    assert (sender.gb_address, sender.frames, sender.answer, sender.peer) == (
        STRANGER,
        3,
        "deny",
        "127.0.0.1",
    )
    # placed at the smallest region holding every institution: the city of the two test counties
    assert sender.region_path == "370000/370800/"
    # one log line a minute per address, not one per frame
    lines = [r.getMessage() for r in caplog.records if "unregistered sender" in r.getMessage()]
    assert lines == [f"unregistered sender: address {STRANGER} from 127.0.0.1, 1 frame(s) denied "
                     "(no device registered there)"]  # fmt: skip


def test_the_same_raw_frames_get_no_clock_sync(institutions: dict[str, Any]) -> None:
    frame = gb.heartbeat_frame(7, STRANGER, CENTRE, CENTRE_TIME)

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        await raw.write(frame.encode())
        assert (await raw.next()).command == 6
        await no_clock_sync(raw)
        await raw.close()

    run(scenario)


def test_confirm_setting_confirms_without_recording(institutions: dict[str, Any]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, STRANGER, centre=CENTRE) as device:
            assert (await device.fire(1, 1, 5)).command == 3

    server = run(scenario, unknown_senders="confirm")
    assert server.stats.unknown_senders == 1 and server.stats.confirms == 1
    assert not Signal.objects.exists() and not Alarm.objects.exists()
    assert UnregisteredSender.objects.get().answer == "confirm"


def test_a_registered_address_with_an_unregistered_component_is_still_served(
    institutions: dict[str, Any],
) -> None:
    home = institutions["rc_elderly"]
    Device.objects.create(institution=home, region_path=home.region_path, type="transmitter", name="T",
                          protocol="gb26875", serial="T-1", gb_address=STRANGER, gb_component="")  # fmt: skip

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, STRANGER, centre=CENTRE) as device:
            assert (await device.fire(1, 1, 5)).command == 3  # falls back to the transmission device

    server = run(scenario)
    assert server.stats.unknown_senders == 0 and not UnregisteredSender.objects.exists()
    assert Alarm.objects.get().kind == "fire"


def test_the_setting_refuses_other_values(monkeypatch: Any) -> None:
    monkeypatch.setenv("MINAN_GB26875_UNKNOWN_SENDERS", "allow")
    with pytest.raises(ImproperlyConfigured, match="deny or confirm"):
        importlib.reload(minan.settings)
    monkeypatch.delenv("MINAN_GB26875_UNKNOWN_SENDERS")
    importlib.reload(minan.settings)


@pytest.fixture
def sighting(institutions: dict[str, Any]) -> UnregisteredSender:
    now = timezone.now()
    device_services.note_sightings([device_services.Sighting(STRANGER, "10.1.2.3", 4, now, now)], "deny")
    device_services.note_sightings([device_services.Sighting(STRANGER, "10.1.2.4", 2, now, now)], "deny")
    return UnregisteredSender.objects.get()


def test_sightings_add_up_in_one_row(sighting: UnregisteredSender) -> None:
    assert (sighting.frames, sighting.peer, sighting.region_path) == (6, "10.1.2.4", "370000/370800/")


def test_the_registry_lists_them_for_the_city_not_for_a_county(
    client: Any, sighting: UnregisteredSender, city_office: Any, rencheng_officer: Any
) -> None:
    login_client(client, city_office)
    page = client.get(reverse("firewatch:device_list")).content.decode()
    assert f'data-sender="{STRANGER}"' in page and "未登记的发送方" in page and "10.1.2.4" in page
    assert f"?gb_address={STRANGER}" in page
    api = client.get("/api/v1/unregistered-senders/").json()
    assert [(r["gb_address"], r["frames"], r["answer_label"]) for r in api["results"]] == [
        (STRANGER, 6, "已拒绝")
    ]
    login_client(client, rencheng_officer)
    assert f'data-sender="{STRANGER}"' not in client.get(reverse("firewatch:device_list")).content.decode()
    assert client.get("/api/v1/unregistered-senders/").json()["results"] == []


def test_registering_a_device_at_the_address_ends_the_entry(
    client: Any, sighting: UnregisteredSender, city_office: Any, institutions: dict[str, Any]
) -> None:
    login_client(client, city_office)
    form = client.get(reverse("firewatch:device_create") + f"?gb_address={STRANGER}").content.decode()
    assert f'value="{STRANGER}"' in form
    home = institutions["zc_elderly"]
    Device.objects.create(institution=home, region_path=home.region_path, type="transmitter", name="T",
                          protocol="gb26875", serial="T-2", gb_address=STRANGER)  # fmt: skip
    assert f'data-sender="{STRANGER}"' not in client.get(reverse("firewatch:device_list")).content.decode()
    assert client.get("/api/v1/unregistered-senders/").json()["results"] == []
    assert UnregisteredSender.objects.filter(gb_address=STRANGER).exists()  # kept, just not listed


def test_the_demo_simulators_stray_sender_is_denied_and_listed(institutions: dict[str, Any]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        stray = [{"address": 990001, "component": "", "kind": "transmitter"}]
        counts = await run_gb_devices(stray, "127.0.0.1", port, rate=100, duration=0.3, fire_probability=0)
        assert counts["sent"] >= 5 and counts["denied"] == counts["sent"] and counts["confirmed"] == 0

    server = run(scenario)
    sender = UnregisteredSender.objects.get(gb_address=990001)
    assert sender.frames == server.stats.unknown_senders
