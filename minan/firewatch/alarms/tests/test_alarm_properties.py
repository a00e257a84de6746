"""Property test of the alarm moves: random sequences of device signals (trigger,
restore) and people's moves (acknowledge, clear, close with good or bad close-out detail) through the
services never reach a state outside the table: one active alarm per device and kind, acknowledged /
cleared / closed never undone, a closed alarm acknowledged, cleared and classified and final, each
step at most once, and a refused move changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from minan.core.errors import DomainError
from minan.core.tests.properties import SERVICES
from minan.firewatch.alarms import selectors, services
from minan.firewatch.ingest.services import SignalIn, record_signal
from minan.firewatch.models import Alarm, AlarmEvent, Device
from minan.firewatch.tests.board_helpers import device

T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
STATES = {"active_unack", "active_ack", "cleared_unack", "cleared_ack"}
GOOD_TEST_DETAIL = {"tested_by": "维保 王工", "maintenance_window": "10:00-11:00"}

steps = st.lists(
    st.tuples(
        st.sampled_from(["trigger", "restore", "acknowledge", "clear", "close", "close_bad"]),
        st.sampled_from(["fire", "fault"]),
        st.integers(1, 400),  # seconds since the previous step
        st.integers(0, 5),  # which of the device's alarms a person acts on (newest first)
    ),
    max_size=14,
)


def _snapshot(alarm: Alarm) -> tuple[Any, ...]:
    return (alarm.acknowledged_at, alarm.cleared_at, alarm.closed_at, alarm.classification, alarm.count)


@SERVICES
@given(plan=steps)
def test_no_sequence_of_signals_and_moves_leaves_the_alarm_table(
    rencheng_officer: Any, institutions: Any, plan: list[tuple[str, str, int, int]]
) -> None:
    smoke: Device = device(institutions["rc_elderly"], heartbeat_seconds=60, grace_seconds=30)
    now = T0
    seen: dict[int, tuple[Any, ...]] = {}
    for what, kind, wait, pick in plan:
        now += dt.timedelta(seconds=wait)
        if what in {"trigger", "restore"}:
            signal = SignalIn("alarm" if kind == "fire" else "fault", kind, at=now)
            if what == "restore":
                signal = SignalIn("restore", kind, at=now)
            record_signal(Device.objects.get(pk=smoke.pk), signal, now=now)
        else:
            mine = list(Alarm.objects.filter(device=smoke).order_by("-id"))
            if not mine:
                continue
            target = mine[pick % len(mine)]
            before = _snapshot(target)
            events = AlarmEvent.objects.filter(alarm=target).count()
            try:
                if what == "acknowledge":
                    services.acknowledge(rencheng_officer, target, now=now)
                elif what == "clear":
                    services.clear(rencheng_officer, target, now=now)
                else:
                    detail = GOOD_TEST_DETAIL if what == "close" else {"tested_by": ""}
                    services.close(rencheng_officer, target, "test", detail, now=now)
                event(f"{what} done")
            except DomainError:
                refused = Alarm.objects.get(pk=target.pk)
                assert _snapshot(refused) == before
                assert AlarmEvent.objects.filter(alarm=target).count() == events
                event(f"{what} refused")

        for alarm in Alarm.objects.filter(device=smoke):
            # Acknowledged, cleared and closed are never undone or moved.
            now_seen = _snapshot(alarm)
            if alarm.pk in seen:
                for earlier, later in zip(seen[alarm.pk][:4], now_seen[:4], strict=True):
                    assert earlier in (None, "") or earlier == later
            seen[alarm.pk] = now_seen
            assert selectors.state_of(alarm) in STATES
            if alarm.closed_at is not None:
                assert alarm.acknowledged_at is not None and alarm.cleared_at is not None
                assert alarm.classification == "test" and alarm.close_detail["tested_by"]
            actions = list(
                AlarmEvent.objects.filter(alarm=alarm).order_by("id").values_list("action", flat=True)
            )
            assert actions[0] == "raised" and actions.count("raised") == 1
            for once in ("acknowledged", "cleared", "closed"):
                assert actions.count(once) <= 1, actions
            if "closed" in actions:
                assert actions[-1] == "closed"  # nothing happens to a closed alarm
            if "cleared" in actions:
                assert (
                    "repeated" not in actions[actions.index("cleared") :]
                )  # a cleared alarm is not reopened
        for kind in ("fire", "fault"):
            active = Alarm.objects.filter(
                device=smoke, kind=kind, cleared_at__isnull=True, closed_at__isnull=True
            )
            assert active.count() <= 1
