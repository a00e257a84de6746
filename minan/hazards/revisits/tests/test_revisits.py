"""回头看: a reproducible draw of closed hazards, and a failed revisit reopens the same hazard."""

from __future__ import annotations

import datetime as dt
import io
import math
import random
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.duty import services as duty
from minan.hazards import services
from minan.hazards.models import Hazard, HazardEvent, Revisit
from minan.hazards.revisits import selectors as revisit_selectors
from minan.hazards.revisits import services as revisit_services


def photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buffer, "PNG")
    return SimpleUploadedFile("fix.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, User]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return {
        "cadre": User.objects.get(pk=cadre.pk),
        "staff": make_user("staff", roles=["institution_staff"], institution=home),
        "officer": make_user("officer", roles=["county_officer"], region=tree["rencheng"]),
    }


def closed_hazard(people: dict[str, User], institutions: Any, n: int, major: bool = False) -> Hazard:
    cadre, staff, officer = people["cadre"], people["staff"], people["officer"]
    hazard = services.report(cadre, institutions["rc_elderly"], source="duty_visit", category="fire",
                             level="major" if major else "general", description=f"隐患{n}")  # fmt: skip
    hazard = services.transition(
        cadre, hazard, "assign", requirement="清理整改到位", days=5, supervisor=officer if major else None
    )
    if major:
        services.update_plan(officer, hazard, plan_responsible="院长", plan_measures="整改", plan_funds="1万元",
                             plan_deadline=dt.date(2026, 10, 30), plan_contingency="预案")  # fmt: skip
    hazard = services.transition(staff, hazard, "start")
    hazard = services.transition(staff, hazard, "submit", measures_taken="已整改", files=[photo()])
    closer = officer if major else cadre
    hazard = services.transition(closer, hazard, "accept")
    return services.transition(closer, hazard, "close")


@pytest.mark.django_db
def test_the_draw_takes_every_major_and_a_share_of_general_hazards_reproducibly(
    people: dict[str, User], institutions: Any
) -> None:
    with time_machine.travel(dt.datetime(2026, 10, 12, 2, tzinfo=dt.UTC), tick=False):
        general = [closed_hazard(people, institutions, n) for n in range(12)]
        major = closed_hazard(people, institutions, 99, major=True)
    with time_machine.travel(dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC), tick=False):
        with pytest.raises(NotPermitted):
            revisit_services.draw_revisits(people["cadre"], dt.date(2026, 10, 1), dt.date(2026, 10, 31))
        draw = revisit_services.draw_revisits(people["officer"], dt.date(2026, 10, 1), dt.date(2026, 10, 31),
                                      general_share=10, seed="jining-2026-10")  # fmt: skip
    drawn = set(draw.revisits.values_list("hazard_id", flat=True))
    assert major.pk in drawn and len(drawn) == 1 + math.ceil(12 * 0.10)  # every major + 2 of 12 general
    # Anyone can recompute the draw from what is stored.
    general_ids = [pk for pk, level in draw.candidates if level == "general"]
    assert general_ids == sorted(h.pk for h in general)
    assert drawn - {major.pk} == set(random.Random("jining-2026-10").sample(general_ids, 2))  # noqa: S311
    # 30 working days after the 2026-10-12 closure.
    assert set(draw.revisits.values_list("due_on", flat=True)) == {dt.date(2026, 11, 23)}
    assert AuditEvent.objects.filter(action="hazard.revisit_draw").count() == 1
    # A second draw over the same period leaves out what was drawn.
    with time_machine.travel(dt.datetime(2026, 11, 3, 2, tzinfo=dt.UTC), tick=False):
        again = revisit_services.draw_revisits(
            people["officer"], dt.date(2026, 10, 1), dt.date(2026, 10, 31), general_share=0
        )
    assert len(again.candidates) == 12 - 2 and again.revisits.count() == 0


@pytest.mark.django_db
def test_a_failed_revisit_reopens_the_same_hazard_and_rates_are_reported(
    people: dict[str, User], institutions: Any
) -> None:
    with time_machine.travel(dt.datetime(2026, 10, 12, 2, tzinfo=dt.UTC), tick=False):
        first, second = closed_hazard(people, institutions, 1), closed_hazard(people, institutions, 2)
    with time_machine.travel(dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC), tick=False):
        draw = revisit_services.draw_revisits(
            people["officer"], dt.date(2026, 10, 1), dt.date(2026, 10, 31), general_share=100
        )
        one, two = draw.revisits.order_by("hazard_id")
        with pytest.raises(DomainError):
            revisit_services.record_revisit(people["cadre"], one, "failed")  # what recurred must be said
        revisit_services.record_revisit(people["cadre"], one, "failed", "杂物又堆放在通道")
        revisit_services.record_revisit(people["cadre"], two, "passed")
        with pytest.raises(DomainError):
            revisit_services.record_revisit(people["cadre"], two, "failed", "again")  # recorded once
    reopened = Hazard.objects.get(pk=first.pk)
    assert (reopened.status, reopened.reopened, reopened.closed_at, reopened.escalation_step) == (
        "rectifying", 1, None, 0,
    )  # fmt: skip
    assert reopened.deadline == dt.date(2026, 11, 9)  # 5 working days after 2026-11-02
    event = HazardEvent.objects.get(hazard=first, action="reopen")
    assert event.data["revisit"] == one.pk
    assert Hazard.objects.get(pk=second.pk).status == "closed"
    assert Hazard.objects.count() == 2  # reopened, not duplicated
    rates = revisit_selectors.revisit_rates(people["officer"], dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert rates == {"drawn": 2, "pending": 0, "passed": 1, "failed": 1, "failure_rate": 50.0}
    assert Revisit.objects.get(pk=one.pk).outcome == "failed"


@pytest.mark.django_db
def test_the_revisits_page_draws_and_records(
    people: dict[str, User], institutions: Any, client: Any, django_assert_max_num_queries: Any
) -> None:
    with time_machine.travel(dt.datetime(2026, 10, 12, 2, tzinfo=dt.UTC), tick=False):
        hazard = closed_hazard(people, institutions, 1)
    with time_machine.travel(dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC), tick=False):
        officer = login_client(client, people["officer"])
        officer.post(
            reverse("hazards:revisits"),
            {"date_from": "2026-10-01", "date_to": "2026-10-31", "general_share": "100"},
        )
        revisit = Revisit.objects.get()
        # The cadre (no supervise permission) sees the revisit but has no draw form.
        cadre = login_client(client, people["cadre"])
        with django_assert_max_num_queries(15):
            page = cadre.get(reverse("hazards:revisits")).content.decode()
        assert f'data-revisit="{revisit.pk}"' in page and 'name="date_from"' not in page
        cadre.post(reverse("hazards:revisits"), {"revisit": revisit.pk, "outcome": "failed", "note": "复发"})
    assert Hazard.objects.get(pk=hazard.pk).status == "rectifying"
    assert Revisit.objects.get().outcome == "failed"


@pytest.mark.django_db
def test_revisits_through_the_api(people: dict[str, User], institutions: Any) -> None:
    with time_machine.travel(dt.datetime(2026, 10, 12, 2, tzinfo=dt.UTC), tick=False):
        hazard = closed_hazard(people, institutions, 1)
    with time_machine.travel(dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC), tick=False):
        api = APIClient()
        api.force_authenticate(people["cadre"])
        refused = api.post(
            "/api/v1/hazard-revisits/draw/",
            {"date_from": "2026-10-01", "date_to": "2026-10-31"},
            format="json",
        )
        assert refused.status_code == 403 and not Revisit.objects.exists()
        api.force_authenticate(people["officer"])
        drawn = api.post("/api/v1/hazard-revisits/draw/",
                         {"date_from": "2026-10-01", "date_to": "2026-10-31", "general_share": 100, "seed": "s"},
                         format="json")  # fmt: skip
        assert drawn.status_code == 201 and drawn.json()["seed"] == "s"
        assert [r["hazard"] for r in drawn.json()["revisits"]] == [hazard.pk]
        pk = drawn.json()["revisits"][0]["id"]
        api.force_authenticate(people["cadre"])
        assert api.get("/api/v1/hazard-revisits/?outcome=pending").json()["count"] == 1
        bad = api.post(f"/api/v1/hazard-revisits/{pk}/record/", {"outcome": "failed"}, format="json")
        assert bad.status_code == 400 and bad.json()["field"] == "note"
        done = api.post(
            f"/api/v1/hazard-revisits/{pk}/record/", {"outcome": "failed", "note": "复发"}, format="json"
        )
        assert done.status_code == 200 and done.json()["outcome"] == "failed"
    assert Hazard.objects.get(pk=hazard.pk).status == "rectifying"


@pytest.mark.django_db
def test_the_criteria_page_shows_how_complete_the_catalogue_is(
    people: dict[str, User], client: Any, django_assert_max_num_queries: Any, make_user: Any
) -> None:
    c = login_client(client, people["officer"])
    with django_assert_max_num_queries(10):
        page = c.get(reverse("hazards:criteria")).content.decode()
    assert 'data-completeness="7/22"' in page and "MCA2023-4-3" in page and "彩钢板" in page
    nobody = make_user("nobody", roles=[], region=people["officer"].region)
    assert login_client(client, nobody).get(reverse("hazards:criteria")).status_code == 403
