"""`minan ingest`: the long-running process that receives device signals.

It hosts the MQTT adapter (when MQTT_URL is set), the GB/T 26875.3 TCP server (on
MINAN_GB26875_LISTEN unless that is empty) and a housekeeping loop that runs the offline sweep and the
alarm escalation every few seconds. HTTP push is served by the web process. SIGTERM or Ctrl-C stops it;
unacknowledged MQTT messages are delivered again to the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from minan.firewatch.alarms import services as alarm_services
from minan.firewatch.ingest import gb_server, services
from minan.firewatch.ingest.mqtt import MqttAdapter, PipelinedMqttAdapter

log = logging.getLogger("minan.ingest")

HOUSEKEEPING_SECONDS = 5.0
LISTENER_START_SECONDS = 30.0


class Command(BaseCommand):
    help = "Receive device signals: MQTT, GB/T 26875.3 TCP; offline sweep and alarm escalation."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-mqtt", action="store_true", help="Do not start the MQTT adapter.")
        parser.add_argument("--no-gb", action="store_true", help="Do not start the GB/T 26875.3 server.")
        parser.add_argument("--no-housekeeping", action="store_true",
                            help="Leave the offline and escalation sweeps to the Huey worker.")  # fmt: skip
        parser.add_argument("--client-id", default=settings.MQTT_CLIENT_ID or f"minan-ingest-{socket.gethostname()}",
                            help="MQTT client id: keep it stable, it names the persistent session.")  # fmt: skip
        parser.add_argument(
            "--gb-listen", default=settings.GB26875_LISTEN, help="host:port for GB/T 26875.3."
        )
        parser.add_argument("--inline-recording", action="store_true",
                            help="Record MQTT signals in this process instead of recording child processes.")  # fmt: skip
        parser.add_argument("--recorders", type=int, default=None,
                            help="Recording child processes for MQTT (default: 2 on PostgreSQL, 1 on SQLite).")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
        # DEBUG (on in development) makes Django log every query with its parameters spelled out: in a
        # process that never ends and writes thousands of rows a second that is most of the work.
        settings.DEBUG = False
        stop = threading.Event()
        # Why the process must end with a non-zero status (a listener that could not start, an adapter
        # thread that died): one line, reported by CommandError. None while all is well.
        self.failure: str | None = None
        gb_ready = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        threads: list[threading.Thread] = []
        # Everything loaded so far lives as long as the process: keep it out of the garbage collector's
        # full passes (80-160 ms each with Django loaded), which would pause receiving and recording.
        gc.collect()
        gc.freeze()
        adapter = None
        if settings.MQTT_URL and not options["no_mqtt"]:
            recorders = options["recorders"]
            if recorders is None:  # SQLite takes one writer at a time: more would only wait for each other
                recorders = 1 if connection.vendor == "sqlite" else 2
            if not 1 <= recorders <= 16:
                raise CommandError("--recorders must be between 1 and 16")
            try:
                if options["inline_recording"]:
                    adapter = MqttAdapter(settings.MQTT_URL, client_id=options["client_id"],
                                          share_group=settings.MQTT_SHARE_GROUP)  # fmt: skip
                else:
                    adapter = PipelinedMqttAdapter(settings.MQTT_URL, client_id=options["client_id"],
                                                   share_group=settings.MQTT_SHARE_GROUP, recorders=recorders,
                                                   alarm_session=settings.MQTT_ALARM_SESSION)  # fmt: skip
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            log.info(
                "MQTT: %s",
                "recording inline" if options["inline_recording"] else f"{recorders} recording processes",
            )
            threads.append(
                threading.Thread(target=self._mqtt_loop, args=(adapter, stop), name="mqtt", daemon=True)
            )
        else:
            log.info("MQTT adapter off (no MQTT_URL)")
        if options["gb_listen"] and not options["no_gb"]:
            threads.append(threading.Thread(target=self._gb_loop, args=(options["gb_listen"], stop, gb_ready),
                                            name="gb26875", daemon=True))  # fmt: skip
        else:
            gb_ready.set()
        if not options["no_housekeeping"]:
            threads.append(
                threading.Thread(target=self._housekeeping, args=(stop,), name="sweeps", daemon=True)
            )
        for thread in threads:
            thread.start()
        # A listener that cannot bind ends the process before it says it is running.
        if not gb_ready.wait(LISTENER_START_SECONDS) and not stop.is_set():
            self.failure = f"the GB/T 26875.3 listener did not start within {LISTENER_START_SECONDS:.0f} s"
            stop.set()
        if self.failure is None:
            self.stdout.write("minan ingest running (Ctrl-C stops it)")
        while not stop.wait(0.5):
            dead = [t.name for t in threads if not t.is_alive()]
            if dead:
                self.failure = self.failure or f"{', '.join(dead)} stopped unexpectedly (see the log above)"
                break
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if adapter is not None:
            adapter.stop()
            s = adapter.stats
            log.info("mqtt: final: received %d, recorded %d, refused %d", s.received, s.recorded, s.rejected)
            alarm_session = getattr(adapter, "alarm_session", None)
            if alarm_session is not None:
                log.info("mqtt: final: alarm session received %d", alarm_session.received)
        if self.failure is not None:
            raise CommandError(self.failure)

    def _mqtt_loop(self, adapter: Any, stop: threading.Event) -> None:
        try:
            self._mqtt_run(adapter, stop)
        except Exception as exc:
            log.exception("MQTT adapter failed")
            self.failure = self.failure or f"MQTT adapter failed: {exc}"
            stop.set()

    @staticmethod
    def _mqtt_run(adapter: Any, stop: threading.Event) -> None:
        adapter.start()  # paho is driven from this thread alone (see MqttAdapter)
        last = time.monotonic()
        while not stop.is_set():
            adapter.run_once(0.5)
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                s = adapter.stats
                log.info("mqtt: received %d, recorded %d, refused %d in %d batches",
                         s.received, s.recorded, s.rejected, s.batches)  # fmt: skip

    def _gb_loop(self, listen: str, stop: threading.Event, ready: threading.Event) -> None:
        async def main() -> None:
            done = asyncio.Event()
            loop = asyncio.get_running_loop()

            def wake_on_stop() -> None:
                stop.wait()
                with contextlib.suppress(RuntimeError):  # the loop already ended (the listener failed)
                    loop.call_soon_threadsafe(done.set)

            threading.Thread(target=wake_on_stop, daemon=True).start()
            await gb_server.serve(listen, done, on_ready=lambda _port: ready.set())

        try:
            asyncio.run(main())
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.failure = f"the GB/T 26875.3 listener cannot listen on {listen}: {reason}"
            log.error("%s", self.failure)
        except Exception as exc:
            log.exception("GB/T 26875.3 server failed")
            self.failure = f"the GB/T 26875.3 server failed: {exc}"
        finally:
            stop.set()
            ready.set()

    @staticmethod
    def _housekeeping(stop: threading.Event) -> None:
        while not stop.wait(HOUSEKEEPING_SECONDS):
            close_old_connections()
            try:
                services.sweep_offline()
                alarm_services.escalate_due()
            except Exception:  # the database may be briefly unreachable; try again next round
                log.exception("housekeeping sweep failed")
