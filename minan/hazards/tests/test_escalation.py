"""Deadline reminders and escalation: right days, right people, once per step."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import time_machine
from django.db import connection, connections

from minan.accounts.models import User, UserScope
from minan.duty import services as duty
from minan.hazards import services
from minan.hazards.models import Hazard, HazardEvent
from minan.notify.models import Notification


@pytest.fixture
def hazard(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> Hazard:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    make_user("staff", roles=["institution_staff"], institution=home)
    make_user("officer", roles=["county_officer"], region=tree["rencheng"])
    make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])
    with time_machine.travel(dt.datetime(2026, 9, 30, 2, tzinfo=dt.UTC), tick=False):
        found = services.report(
            User.objects.get(pk=cadre.pk), home, source="duty_visit", category="fire", level="general",
            description="灭火器过期",
        )  # fmt: skip
        return services.transition(
            User.objects.get(pk=cadre.pk), found, "assign", requirement="清理整改到位"
        )  # due 2026-10-13


def told(step_day: str) -> list[tuple[str, str]]:
    return sorted(
        Notification.objects.filter(created_at__date=step_day).values_list("recipient__username", "event")
    )


@pytest.mark.django_db
def test_reminders_and_escalations_come_on_the_right_working_days_to_the_right_people(hazard: Hazard) -> None:
    assert hazard.deadline == dt.date(2026, 10, 13)
    plan = {
        "2026-10-09": {},  # 2 of 5 working days: nothing yet
        "2026-10-10": {1: 1},  # 3 of 5 (the 调休 Saturday counts): 50 %
        "2026-10-11": {},  # Sunday, still 3 of 5
        "2026-10-12": {2: 1},  # 4 of 5: 75 %
        "2026-10-13": {3: 1},  # the due day
        "2026-10-15": {},  # 2 working days late
        "2026-10-16": {4: 1},  # 3 working days late: the county
        "2026-10-21": {},
        "2026-10-22": {5: 1},  # 7 working days late: the city
    }
    for day, expected in plan.items():
        with time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=2, tzinfo=dt.UTC), tick=False):
            assert services.escalate_due() == expected, day
            assert services.escalate_due() == {}, day  # run again: nothing twice
    assert told("2026-10-10") == [("staff", "hazards.reminder")]
    assert told("2026-10-12") == [("cadre", "hazards.reminder"), ("staff", "hazards.reminder")]
    assert told("2026-10-13") == [("cadre", "hazards.overdue"), ("staff", "hazards.overdue")]
    assert told("2026-10-16") == [
        ("cadre", "hazards.overdue"),
        ("officer", "hazards.overdue"),
        ("staff", "hazards.overdue"),
    ]
    assert ("city_office", "hazards.overdue") in told("2026-10-22")
    assert Hazard.objects.get(pk=hazard.pk).status == Hazard.Status.ASSIGNED  # overdue stays open
    assert list(HazardEvent.objects.filter(action__startswith="escalation").values_list("action", flat=True)) == [
        "escalation1", "escalation2", "escalation3", "escalation4", "escalation5",
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_sweep_that_missed_days_sends_only_the_step_reached(hazard: Hazard) -> None:
    with time_machine.travel(dt.datetime(2026, 10, 16, 2, tzinfo=dt.UTC), tick=False):
        assert services.escalate_due() == {4: 1}
    assert Notification.objects.filter(event="hazards.reminder").count() == 0


@pytest.mark.django_db
def test_a_closed_hazard_is_not_escalated(hazard: Hazard) -> None:
    Hazard.objects.filter(pk=hazard.pk).update(status=Hazard.Status.CLOSED)
    with time_machine.travel(dt.datetime(2026, 10, 22, 2, tzinfo=dt.UTC), tick=False):
        assert services.escalate_due() == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real transactions need a server database")
def test_two_workers_sweeping_at_once_send_each_step_once(hazard: Hazard) -> None:
    barrier = threading.Barrier(2)
    results: list[dict[int, int]] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(services.escalate_due(dt.date(2026, 10, 16)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=len) == [{}, {4: 1}]
    assert Notification.objects.filter(event="hazards.overdue").count() == 3  # staff, cadre, county officer
