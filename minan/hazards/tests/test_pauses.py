"""Pausing the deadline clock: asked with a reason, approved by another person of
the configured level; while it runs nothing is overdue and no reminder goes out; when it ends the
deadline moves by the working days it lasted, and those days do not count as taken to close."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.errors import DomainError, NotPermitted
from minan.duty import services as duty
from minan.hazards import facts, selectors, services
from minan.hazards.metrics import selectors as metrics
from minan.hazards.models import Hazard, HazardEvent, Pause
from minan.hazards.tests.test_pages import png
from minan.notify.models import Notification


def at(day: dt.date) -> Any:
    """Travel to 10:00 Beijing time of a day."""
    return time_machine.travel(dt.datetime.combine(day, dt.time(2), tzinfo=dt.UTC), tick=False)


@pytest.fixture
def setup(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    cadre = User.objects.get(pk=cadre.pk)
    staff = make_user("staff", roles=["institution_staff"], institution=home)
    with at(dt.date(2026, 9, 30)):
        hazard = services.report(cadre, home, source="duty_visit", category="fire", level="general",
                                 description="消防通道堆放杂物")  # fmt: skip
        hazard = services.transition(cadre, hazard, "assign", requirement="清理杂物")  # due 2026-10-13
        hazard = services.transition(staff, hazard, "start")
    return {"cadre": cadre, "staff": staff, "hazard": hazard, "home": home}


def paused_on_oct_8(setup: dict[str, Any]) -> Hazard:
    with at(dt.date(2026, 10, 8)):
        pause = services.request_pause(setup["staff"], setup["hazard"], "等待消防部门复核")
        services.decide_pause(setup["cadre"], pause, True)
    return Hazard.objects.get(pk=setup["hazard"].pk)


@pytest.mark.django_db
def test_a_paused_clock_is_never_overdue_sends_nothing_and_moves_the_deadline_by_its_working_days(
    setup: dict[str, Any],
) -> None:
    hazard = paused_on_oct_8(setup)
    assert (hazard.paused_since, hazard.deadline) == (dt.date(2026, 10, 8), dt.date(2026, 10, 13))
    day = dt.date(2026, 10, 8)
    while day <= dt.date(2026, 10, 20):  # past the old deadline: no reminder, no escalation
        assert services.escalate_due(day) == {}, day
        day += dt.timedelta(days=1)
    assert Notification.objects.count() == 0
    today = dt.date(2026, 10, 20)
    scoped = Hazard.objects.filter(pk=hazard.pk)
    assert not selectors.filter_hazards(scoped, {"overdue": "1"}, today).exists()
    assert selectors.filter_hazards(scoped, {"paused": "1"}, today).count() == 1
    assert facts.overdue_general([setup["home"].pk], today) == {}
    assert not selectors.is_overdue(hazard, today)
    assert "2026-10-08" in selectors.status_text(hazard)

    with at(today):
        hazard = services.resume(setup["staff"], hazard, "复核通过")
    # Paused working days 10-08, 10-09, 10-10 (调休 Saturday), 10-12 … 10-16, 10-19: nine.
    assert (hazard.paused_since, hazard.paused_days) == (None, 9)
    assert hazard.deadline == dt.date(2026, 10, 26)  # 2026-10-13 + 9 working days
    pause = Pause.objects.get()
    assert (pause.started_on, pause.ended_on, pause.working_days) == (
        dt.date(2026, 10, 8), dt.date(2026, 10, 20), 9,
    )  # fmt: skip
    assert list(
        HazardEvent.objects.filter(hazard=hazard, action__startswith="pause").values_list("action", flat=True)
    ) == ["pause_request", "pause_approved", "pause_end"]
    # The clock runs again from where it stood: 2 of 5 working days used on 10-21, half on 10-22.
    assert services.escalate_due(dt.date(2026, 10, 21)) == {}
    assert services.escalate_due(dt.date(2026, 10, 22)) == {1: 1}
    assert services.escalate_due(dt.date(2026, 10, 26)) == {3: 1}


@pytest.mark.django_db
def test_working_days_to_close_leave_the_pause_out(setup: dict[str, Any]) -> None:
    hazard, staff, cadre = paused_on_oct_8(setup), setup["staff"], setup["cadre"]
    with at(dt.date(2026, 10, 20)):
        hazard = services.resume(cadre, hazard)
    with at(dt.date(2026, 10, 21)):
        hazard = services.transition(staff, hazard, "submit", measures_taken="已清理", files=[png()])
        hazard = services.transition(cadre, hazard, "accept")
        hazard = services.transition(cadre, hazard, "close")
        # Notice 09-30 to close-out 10-21 is 11 working days, 9 of them paused: 2 taken.
        figures = metrics.figures(cadre, dt.date(2026, 10, 1), dt.date(2026, 10, 21))
    assert (figures.total.closed, figures.total.on_time, figures.total.avg_working_days_to_close) == (
        1,
        1,
        2.0,
    )


@pytest.mark.django_db
def test_who_may_ask_decide_and_resume_and_nothing_changes_when_refused(setup: dict[str, Any]) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    with at(dt.date(2026, 10, 8)):
        with pytest.raises(DomainError) as caught:
            services.request_pause(staff, hazard, "  ")
        assert caught.value.field == "reason"
        with pytest.raises(DomainError) as caught:
            services.resume(staff, hazard)
        assert caught.value.code == "not_allowed"
        pause = services.request_pause(cadre, hazard, "等待资金下达")
        with pytest.raises(DomainError) as caught:
            services.request_pause(staff, hazard, "again")
        assert caught.value.code == "duplicate"
        with pytest.raises(NotPermitted):
            services.decide_pause(staff, pause, True)  # the institution does not approve
        with pytest.raises(DomainError) as caught:
            services.decide_pause(cadre, pause, True)  # nor the one who asked
        assert caught.value.code == "second_person"
        assert Pause.objects.get().decision == "pending"
        assert Hazard.objects.get(pk=hazard.pk).paused_since is None


@pytest.mark.django_db
def test_a_refusal_needs_a_reason_and_the_clock_keeps_running(setup: dict[str, Any]) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    with at(dt.date(2026, 10, 8)):
        pause = services.request_pause(staff, hazard, "等待资金下达")
        with pytest.raises(DomainError) as caught:
            services.decide_pause(cadre, pause, False, "")
        assert caught.value.field == "comment" and Pause.objects.get().decision == "pending"
        services.decide_pause(cadre, pause, False, "资金已到位，应按期整改")
        assert Pause.objects.get().decision == "refused"
        assert Hazard.objects.get(pk=hazard.pk).paused_since is None
        services.request_pause(staff, hazard, "另一理由")  # a new request is possible after a refusal
    assert services.escalate_due(dt.date(2026, 10, 10)) == {1: 1}  # 3 of 5 working days: the 调休 Saturday


@pytest.mark.django_db
def test_submitting_ends_the_pause(setup: dict[str, Any]) -> None:
    hazard = paused_on_oct_8(setup)
    with at(dt.date(2026, 10, 12)):
        hazard = services.transition(setup["staff"], hazard, "submit", measures_taken="已清理", files=[png()])
    # Paused 10-08, 10-09, 10-10: three working days.
    assert (hazard.status, hazard.paused_since, hazard.paused_days) == ("submitted", None, 3)
    assert hazard.deadline == dt.date(2026, 10, 16)
    assert Pause.objects.get().ended_by_id == setup["staff"].pk


@pytest.mark.django_db
def test_the_approver_level_is_configurable(
    setup: dict[str, Any], settings: Any, rencheng_officer: User
) -> None:
    settings.HAZARD_PAUSE_APPROVER = "county"
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    with at(dt.date(2026, 10, 8)):
        pause = services.request_pause(staff, hazard, "等待住建部门鉴定")
        assert not selectors.may_decide_pause(
            cadre, hazard
        )  # the cadre holds one institution, not the county
        with pytest.raises(NotPermitted):
            services.decide_pause(cadre, pause, True)
        assert Pause.objects.get().decision == "pending"
        services.decide_pause(rencheng_officer, pause, True)
    assert Hazard.objects.get(pk=hazard.pk).paused_since == dt.date(2026, 10, 8)


@pytest.mark.django_db
def test_pauses_on_the_pages(setup: dict[str, Any], client: Any) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    with at(dt.date(2026, 10, 8)):
        c = login_client(client, staff)
        c.post(reverse("hazards:pause", args=[hazard.pk]), {"reason": ""})
        assert not Pause.objects.exists()
        c.post(reverse("hazards:pause", args=[hazard.pk]), {"reason": "等待消防部门复核"})
        pause = Pause.objects.get()
        c = login_client(client, cadre)
        page = c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
        assert (
            f'action="{reverse("hazards:pause_decide", args=[pause.pk])}"' in page
            and "等待消防部门复核" in page
        )
        c.post(reverse("hazards:pause_decide", args=[pause.pk]), {"approve": "1"})
        assert Hazard.objects.get(pk=hazard.pk).paused_since == dt.date(2026, 10, 8)
        ledger_page = c.get(reverse("hazards:list") + "?paused=1").content.decode()
        assert f'data-hazard="{hazard.pk}"' in ledger_page and 'data-paused="1"' in ledger_page
        detail = c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
        assert 'data-running="1"' in detail and 'data-paused="1"' in detail
    with at(dt.date(2026, 10, 9)):
        c = login_client(client, cadre)  # a day later the session has timed out
        c.post(reverse("hazards:resume", args=[hazard.pk]), {"comment": ""})
    hazard.refresh_from_db()
    assert (hazard.paused_since, hazard.paused_days, hazard.deadline) == (None, 1, dt.date(2026, 10, 14))


@pytest.mark.django_db
def test_pauses_through_the_api(setup: dict[str, Any], make_user: Any, tree: Any) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    outsider = make_user("zc", roles=["county_officer"], region=tree["zoucheng"])
    api = APIClient()
    with at(dt.date(2026, 10, 8)):
        api.force_authenticate(outsider)
        assert (
            api.post(f"/api/v1/hazards/{hazard.pk}/pause/", {"reason": "x"}, format="json").status_code == 404
        )
        api.force_authenticate(staff)
        asked = api.post(f"/api/v1/hazards/{hazard.pk}/pause/", {"reason": "等待资金"}, format="json")
        assert asked.status_code == 201 and asked.json()["decision"] == "pending"
        own = api.post(f"/api/v1/hazards/{hazard.pk}/decide-pause/", {"pause": asked.json()["id"], "approve": True},
                       format="json")  # fmt: skip
        assert own.status_code == 403 and Pause.objects.get().decision == "pending"
        api.force_authenticate(cadre)
        decided = api.post(f"/api/v1/hazards/{hazard.pk}/decide-pause/",
                           {"pause": asked.json()["id"], "approve": True}, format="json")  # fmt: skip
        assert decided.status_code == 200 and decided.json()["started_on"] == "2026-10-08"
        listed = api.get("/api/v1/hazards/?paused=true").json()
        assert [row["id"] for row in listed["results"]] == [hazard.pk]
        assert listed["results"][0]["paused_since"] == "2026-10-08"
    with at(dt.date(2026, 10, 20)):
        assert api.get(f"/api/v1/hazards/{hazard.pk}/").json()["overdue"] is False
        resumed = api.post(f"/api/v1/hazards/{hazard.pk}/resume/", {}, format="json")
        assert resumed.status_code == 200
        assert (resumed.json()["deadline"], resumed.json()["paused_days"]) == ("2026-10-26", 9)
        again = api.post(f"/api/v1/hazards/{hazard.pk}/resume/", {}, format="json")
        assert again.status_code == 400 and again.json()["code"] == "not_allowed"
