"""`minan simulate`: registered devices send heartbeats, readings, faults and fire alarms.

The devices are the active ones in the database (the demo seeds some); the signals go where real ones
would: HTTP push to the web process, MQTT to the broker `minan ingest` reads, GB/T 26875.3 to its TCP
server. See `minan.firewatch.simulator.json_devices` for what is sent when, and docs/firewatch.md for the options.

HTTP push needs each device's token. A device that has one keeps it (the simulator runs with database
access and the deployment key, and reads it as the signature check does); a device without one gets
one issued by the account `minan-simulator` (city safety office, scope the whole tree, no password: it
cannot sign in), so the issue is audited like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils.translation import gettext as _

from minan.accounts import services as account_services
from minan.accounts.models import User
from minan.accounts.roles import CITY_SAFETY_OFFICE
from minan.firewatch.devices import services as device_services
from minan.firewatch.models import Device
from minan.firewatch.simulator.gb_devices import run_gb_devices
from minan.firewatch.simulator.json_devices import HttpSender, MqttSender, Plan, Sender, SimDevice, run
from minan.notify import crypto
from minan.regions.models import Region

SIMULATOR_USERNAME = "minan-simulator"
WAIT_FOR_DEVICES_SECONDS = 10.0


def simulator_account() -> Any:
    """The system account that issues HTTP push tokens for the simulated devices."""
    user = User.objects.filter(username=SIMULATOR_USERNAME).first()
    roots = list(Region.objects.filter(parent__isnull=True).order_by("pk"))
    if not roots:
        raise CommandError(
            _("There is no region tree yet: load one (`minan regions load`) or run `minan demo-data`.")
        )
    if user is None:
        user = account_services.create_user(
            None, username=SIMULATOR_USERNAME, display_name=_("Device simulator"), password=None,
            region=roots[0], must_change_password=False,
        )  # fmt: skip
    if CITY_SAFETY_OFFICE not in set(user.role_grants.values_list("role", flat=True)):
        account_services.grant_role(None, user, CITY_SAFETY_OFFICE)
    scoped = set(user.scopes.filter(region__isnull=False).values_list("region_id", flat=True))
    for root in roots:
        if root.pk not in scoped:
            account_services.add_scope(None, user, region=root)
    return User.objects.get(pk=user.pk)


def http_tokens(devices: list[Device]) -> dict[str, str]:
    """Each device's HTTP push token: its own if it has one we can read, else a new one."""
    tokens: dict[str, str] = {}
    actor = None
    for device in devices:
        token = crypto.decrypt(device.token_sealed) if device_services.has_credential(device) else ""
        if not token:
            actor = actor or simulator_account()
            token = device_services.issue(actor, device)
        tokens[device.serial] = token
    return tokens


def current_token(serial: str) -> str:
    """The device's token as stored now ("" if none): after a 401, another run may have issued it."""
    sealed = Device.objects.filter(serial=serial).values_list("token_sealed", flat=True).first()
    close_old_connections()
    return crypto.decrypt(sealed or "")


def pick_devices(protocol: str, count: int) -> list[Device]:
    """Up to `count` active devices, spread over the institutions (one of each in turn) and over the
    device types, and the same from run to run: a restarted simulator speaks for the same devices, so
    none of them goes offline."""
    devices = Device.objects.filter(active=True)
    if protocol == "gb26875":
        devices = devices.filter(gb_address__isnull=False)
    grouped: dict[int, dict[str, list[int]]] = {}
    for pk, institution, kind in devices.order_by("institution_id", "pk").values_list(
        "pk", "institution_id", "type"
    ):
        grouped.setdefault(institution, {}).setdefault(kind, []).append(pk)
    queues: list[list[int]] = []
    for index, by_type in enumerate(grouped.values()):
        kinds = sorted(by_type)
        kinds = kinds[index % len(kinds) :] + kinds[: index % len(kinds)]  # institutions start at other types
        order: list[int] = []
        while any(by_type.values()):
            order += [by_type[k].pop(0) for k in kinds if by_type[k]]
        queues.append(order)
    chosen: list[int] = []
    while queues and len(chosen) < count:
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
        queues = [q for q in queues if q]
    return list(Device.objects.filter(pk__in=chosen).order_by("pk"))


def assign(protocol: str, device: Device, mqtt_available: bool) -> str | None:
    """How this run sends the device: the chosen protocol, or in `all` mode its registered one."""
    if protocol != "all":
        return protocol
    if device.protocol == Device.Protocol.GB26875:
        return "gb26875" if device.gb_address is not None else "http"
    if device.protocol == Device.Protocol.MQTT and not mqtt_available:
        return "http"
    return str(device.protocol)


class Command(BaseCommand):
    gb_counts: dict[str, int] = {}  # noqa: RUF012 (replaced, never mutated)
    help = "Simulated fire-monitoring devices: heartbeats, readings, faults and fire alarms over MQTT, HTTP or GB/T 26875.3."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--protocol", choices=["mqtt", "http", "gb26875", "all"], default=None,
                            help="How the devices send (default: mqtt when MQTT_URL is set, else http); "
                                 "`all` sends each device over its registered protocol.")  # fmt: skip
        parser.add_argument(
            "--devices", type=int, default=50, help="How many active devices to simulate (50)."
        )
        parser.add_argument(
            "--rate", type=float, default=2.0, help="Signals per second, all devices together (2)."
        )
        parser.add_argument(
            "--duration", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C)."
        )
        parser.add_argument("--fire-every", type=float, default=300.0,
                            help="A fire alarm from a random smoke detector about this often, in seconds (300; 0: never).")  # fmt: skip
        parser.add_argument(
            "--fire-now", action="store_true", help="Start with a fire alarm from a random smoke detector."
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The web process, for HTTP push.")
        parser.add_argument(
            "--gb", default=None, help="host:port of the GB/T 26875.3 server (MINAN_GB26875_LISTEN)."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a repeatable run.")
        parser.add_argument("--stray-gb", type=int, default=0, metavar="ADDRESS",
                            help="Also send GB/T 26875.3 frames from this address, where no device is registered "
                                 "(the registry lists it as an unregistered sender).")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        protocol = options["protocol"] or ("mqtt" if settings.MQTT_URL else "http")
        if protocol == "mqtt" and not settings.MQTT_URL:
            raise CommandError(_("MQTT_URL is not set: there is no broker to publish to."))
        if options["rate"] <= 0 or options["devices"] < 1:
            raise CommandError(_("--rate and --devices must be positive."))
        rng = random.Random(options["seed"])
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        deadline = (
            None
            if options["duration"] is None
            else dt.datetime.now() + dt.timedelta(seconds=options["duration"])
        )

        devices = pick_devices(protocol, options["devices"])
        while not devices and not stop.is_set():
            # Under `minan serve --simulate` an exit would only be restarted: wait for devices instead.
            self.stdout.write(
                _("No active devices to simulate yet; looking again in %(n)d s.")
                % {"n": WAIT_FOR_DEVICES_SECONDS}
            )
            close_old_connections()
            if stop.wait(WAIT_FOR_DEVICES_SECONDS) or (deadline and dt.datetime.now() >= deadline):
                return
            devices = pick_devices(protocol, options["devices"])
        if not devices:
            return
        remaining = None if deadline is None else max(0.0, (deadline - dt.datetime.now()).total_seconds())
        self.simulate(devices, protocol, rng=rng, stop=stop, duration=remaining, options=options)

    def simulate(self, devices: list[Device], protocol: str, *, rng: random.Random, stop: threading.Event,
                 duration: float | None, options: dict[str, Any]) -> dict[str, Sender]:  # fmt: skip
        """The run itself (tests call this with their own devices and a short duration)."""
        chosen = {d.pk: assign(protocol, d, bool(settings.MQTT_URL)) for d in devices}
        gb = [d for d in devices if chosen[d.pk] == "gb26875"]
        sim = [SimDevice(serial=d.serial, type=d.type, protocol=str(chosen[d.pk]),
                         heartbeat_seconds=d.heartbeat_seconds, thresholds=dict(d.thresholds or {}),
                         gb_address=d.gb_address, gb_component=d.gb_component)
               for d in devices if chosen[d.pk] in {"http", "mqtt"}]  # fmt: skip
        share = len(sim) / len(devices)
        fire_every = options["fire_every"]
        senders: dict[str, Sender] = {}
        if any(d.protocol == "http" for d in sim):
            tokens = http_tokens([d for d in devices if chosen[d.pk] == "http"])
            try:
                senders["http"] = HttpSender(options["url"], tokens, refresh=current_token)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        if any(d.protocol == "mqtt" for d in sim):
            try:
                senders["mqtt"] = MqttSender(settings.MQTT_URL)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        close_old_connections()  # the run itself needs no database

        # Fires about every --fire-every seconds in all: the devices here take their share of them.
        main_fire_every = fire_every / share if fire_every > 0 and share else 0.0
        plan = Plan(sim, rate=options["rate"] * share, fire_every=main_fire_every, rng=rng, now=time.monotonic(),
                    fire_now=bool(options.get("fire_now")))  # fmt: skip
        # --fire-now: by the devices here if any is a smoke detector, else by the GB/T 26875.3 ones.
        gb_fire_now = bool(options.get("fire_now")) and not plan.smoke_detectors()
        gb_thread = self.start_gb(gb, rate=options["rate"] * (1 - share), total_rate=options["rate"], fire_every=fire_every,
                                  stop=stop, duration=duration, address=options["gb"] or settings.GB26875_LISTEN,
                                  fire_now=gb_fire_now, stray=options.get("stray_gb") or 0)  # fmt: skip
        counts = ", ".join(f"{name} {sum(1 for d in chosen.values() if d == name)}" for name in ("http", "mqtt", "gb26875")
                           if name in chosen.values())  # fmt: skip
        self.stdout.write(_("Simulating %(n)d devices (%(counts)s) at about %(rate).1f signals/s; Ctrl-C stops.")
                          % {"n": len(devices), "counts": counts, "rate": plan.rate + options["rate"] * (1 - share)})  # fmt: skip
        if sim and plan.rate > options["rate"] * share * 1.01:
            self.stdout.write(
                _(
                    "(More than --rate: the devices must send at least once per heartbeat period to stay online.)"
                )
            )

        def report() -> None:
            parts = [_("%(name)s: sent %(sent)d, confirmed %(ok)d, failed %(failed)d")
                     % {"name": name, "sent": s.stats.sent, "ok": s.stats.confirmed, "failed": s.stats.failed}
                     + (f" ({s.stats.last_error})" if s.stats.failed and s.stats.last_error else "")
                     for name, s in senders.items()]  # fmt: skip
            if gb_thread is not None and gb_thread.is_alive():
                parts.append(_("gb26875: running"))
            elif gb_thread is not None:
                c = self.gb_counts
                parts.append(_("gb26875: sent %(sent)d, confirmed %(ok)d, failed %(failed)d")
                             % {"sent": c.get("sent", 0), "ok": c.get("confirmed", 0),
                                "failed": c.get("failed", 0) + c.get("denied", 0)})  # fmt: skip
            self.stdout.write(f"[{dt.datetime.now():%H:%M:%S}] " + "; ".join(parts))

        try:
            if sim:
                run(plan, senders, stop=stop, duration=duration, report=report)
            elif gb_thread is not None:
                gb_thread.join(duration)
        finally:
            stop.set()
            for sender in senders.values():
                sender.close()
            if gb_thread is not None:
                gb_thread.join(10)
            report()
        return senders

    def start_gb(self, devices: list[Device], *, rate: float, total_rate: float, fire_every: float, stop: threading.Event,
                 duration: float | None, address: str, fire_now: bool = False, stray: int = 0) -> threading.Thread | None:  # fmt: skip
        if not devices:
            return None
        if not address:
            self.stderr.write(
                _("MINAN_GB26875_LISTEN is empty and --gb not given: GB/T 26875.3 devices are skipped.")
            )
            return None
        host, _sep, port = address.rpartition(":")
        specs = [{"address": d.gb_address, "component": d.gb_component, "kind": d.type} for d in devices]
        if stray > 0:
            specs.append({"address": stray, "component": "", "kind": Device.Type.TRANSMITTER})
        # A fire about every `fire_every` seconds in all, the GB devices taking their share: per GB signal
        # that is 1 / (fire_every × total rate), whatever the share.
        probability = 0.0 if fire_every <= 0 else min(1.0, 1.0 / (fire_every * total_rate))

        async def main() -> dict[str, int]:
            # run_gb_devices is asyncio: its stop event follows the command's (set from another thread).
            loop = asyncio.get_running_loop()
            gb_stop = asyncio.Event()

            def follow() -> None:
                stop.wait()
                with contextlib.suppress(RuntimeError):  # the loop has already finished
                    loop.call_soon_threadsafe(gb_stop.set)

            threading.Thread(target=follow, daemon=True).start()
            return await run_gb_devices(specs, host or "127.0.0.1", int(port), rate=rate, duration=duration,
                                        fire_probability=probability, stop=gb_stop, fire_now=fire_now)  # fmt: skip

        def target() -> None:
            try:
                self.gb_counts = asyncio.run(main())
            except Exception as exc:  # noqa: BLE001 (reported, the other protocols go on)
                self.stderr.write(_("GB/T 26875.3 simulator stopped: %(error)s") % {"error": exc})

        thread = threading.Thread(target=target, name="simulate-gb", daemon=True)
        thread.start()
        return thread
