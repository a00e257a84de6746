"""The closed loop: the move table is the only way a hazard changes, through services and the API."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, connections, transaction
from PIL import Image
from rest_framework.test import APIClient

from minan.accounts import services as accounts
from minan.accounts.models import User, UserScope
from minan.core import calendar
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.duty import services as duty
from minan.hazards import services
from minan.hazards.models import Clause, Hazard, HazardEvent
from minan.hazards.workflow import MOVES
from minan.institutions.models import Institution

S = Hazard.Status


def photo(name: str = "p.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture(autouse=True)
def _day() -> Any:
    with time_machine.travel(dt.datetime(2026, 9, 30, 2, tzinfo=dt.UTC), tick=False):  # 10:00 in Shanghai
        yield


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, User]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return {
        "cadre": User.objects.get(pk=cadre.pk),
        "staff": make_user("staff", roles=["institution_staff"], institution=home),
        "inspector": make_user("inspector", roles=["inspector"], region=tree["city"], scopes=[tree["city"]]),
        "officer": make_user("officer", roles=["county_officer"], region=tree["rencheng"]),
        "city": city_office,
    }


def general(people: dict[str, User], institutions: Any, **kw: Any) -> Hazard:
    values = {
        "source": "duty_visit",
        "category": "fire",
        "level": "general",
        "description": "疏散通道堆放杂物",
    }
    return services.report(people["cadre"], institutions["rc_elderly"], **{**values, **kw})


def major(people: dict[str, User], institutions: Any) -> Hazard:
    return services.report(
        people["inspector"], institutions["rc_elderly"], source="inspection", category="building",
        level="general", description="住宿楼为彩钢板房", clause=Clause.objects.get(key="MCA2023-4-3"),
    )  # fmt: skip


@pytest.mark.django_db
def test_the_whole_loop_of_a_general_hazard(people: dict[str, User], institutions: Any) -> None:
    hazard = general(people, institutions)
    assert hazard.status == S.REPORTED and hazard.cadre == people["cadre"]
    hazard = services.transition(people["cadre"], hazard, "assign", requirement="当日清理")
    # 5 working days after 2026-09-30: over National Day (10-01..10-07) and past the 调休 Saturday 10-10.
    assert (hazard.assigned_on, hazard.deadline) == (dt.date(2026, 9, 30), dt.date(2026, 10, 13))
    hazard = services.transition(people["staff"], hazard, "start")
    hazard = services.transition(people["staff"], hazard, "submit", measures_taken="已清理", files=[photo()])
    hazard = services.transition(people["cadre"], hazard, "accept")
    hazard = services.transition(people["cadre"], hazard, "close")
    assert hazard.status == S.CLOSED and hazard.accepted_by == people["cadre"] and hazard.closed_at
    assert list(hazard.events.values_list("action", "from_status", "to_status")) == [
        ("report", "", "reported"), ("assign", "reported", "assigned"), ("start", "assigned", "rectifying"),
        ("submit", "rectifying", "submitted"), ("accept", "submitted", "accepted"), ("close", "accepted", "closed"),
    ]  # fmt: skip
    assert hazard.files.get().kind == "rectified"
    assert AuditEvent.objects.filter(action__startswith="hazard.").count() == 6


@pytest.mark.django_db
def test_the_deadline_over_national_day_and_the_tiaoxiu_saturday(
    people: dict[str, User], institutions: Any
) -> None:
    """Assigned 2026-09-30 (calendar reference case): 10-01..10-07 are rest days, Saturday 10-10 is a
    working day (调休), so working days 1–5 are 10-08, 10-09, 10-10, 10-12, 10-13."""
    days = [calendar.add_working_days(dt.date(2026, 9, 30), n) for n in range(1, 6)]
    assert days == [dt.date(2026, 10, 8), dt.date(2026, 10, 9), dt.date(2026, 10, 10), dt.date(2026, 10, 12),
                    dt.date(2026, 10, 13)]  # fmt: skip
    hazard = services.transition(
        people["cadre"], general(people, institutions), "assign", requirement="清理整改到位", days=3
    )
    assert hazard.deadline == dt.date(2026, 10, 10)


@pytest.mark.django_db
def test_every_move_not_in_the_table_is_refused_and_changes_nothing(
    people: dict[str, User], institutions: Any
) -> None:
    hazard = general(people, institutions)
    everyone = people["city"]
    for role in ("institution_staff",):  # give one actor every permission of the table
        accounts.grant_role(None, everyone, role)
    everyone = User.objects.get(pk=everyone.pk)
    api = APIClient()
    api.force_authenticate(everyone)
    refused = 0
    for status in S.values:
        for action, move in MOVES.items():
            if status in move.sources:
                continue
            Hazard.objects.filter(pk=hazard.pk).update(status=status)
            events = HazardEvent.objects.count()
            with pytest.raises(DomainError) as caught:
                services.transition(everyone, Hazard.objects.get(pk=hazard.pk), action, comment="x")
            assert caught.value.code == "not_allowed", (status, action)
            response = api.post(
                f"/api/v1/hazards/{hazard.pk}/transition/", {"action": action, "comment": "x"}, format="json"
            )
            assert response.status_code == 400 and response.json()["code"] == "not_allowed", (status, action)
            assert Hazard.objects.get(pk=hazard.pk).status == status
            assert HazardEvent.objects.count() == events
            refused += 1
    assert refused == len(S.values) * len(MOVES) - sum(len(m.sources) for m in MOVES.values())


@pytest.mark.django_db
def test_the_table_says_who_may_move(people: dict[str, User], institutions: Any) -> None:
    hazard = general(people, institutions)
    with pytest.raises(NotPermitted):
        services.transition(
            people["staff"], hazard, "assign"
        )  # the institution does not issue its own notice
    hazard = services.transition(people["cadre"], hazard, "assign", requirement="清理整改到位")
    with pytest.raises(NotPermitted):
        services.transition(people["cadre"], hazard, "start")  # the institution rectifies
    api = APIClient()
    api.force_authenticate(people["cadre"])
    body = api.get(f"/api/v1/hazards/{hazard.pk}/").json()
    assert body["allowed_actions"] == []  # the cadre neither rectifies nor cancels
    api.force_authenticate(people["staff"])
    assert api.get(f"/api/v1/hazards/{hazard.pk}/").json()["allowed_actions"] == ["start"]
    response = api.post(f"/api/v1/hazards/{hazard.pk}/transition/", {"action": "start"}, format="json")
    assert response.status_code == 200 and response.json()["allowed_actions"] == ["submit"]


@pytest.mark.django_db
def test_submission_needs_evidence_and_acceptance_a_second_person(
    people: dict[str, User], institutions: Any
) -> None:
    hazard = services.transition(
        people["cadre"], general(people, institutions), "assign", requirement="清理整改到位"
    )
    hazard = services.transition(people["staff"], hazard, "start")
    with pytest.raises(DomainError) as caught:
        services.transition(people["staff"], hazard, "submit", measures_taken="已整改")
    assert caught.value.code == "evidence_required"
    with pytest.raises(DomainError) as caught:
        services.transition(people["staff"], hazard, "submit", measures_taken="已整改",
                            files=[SimpleUploadedFile("fake.jpg", b"not an image")])  # fmt: skip
    assert Hazard.objects.get(pk=hazard.pk).status == S.RECTIFYING and not hazard.files.exists()
    hazard = services.transition(people["staff"], hazard, "submit", measures_taken="已整改", files=[photo()])
    hazard = services.transition(people["cadre"], hazard, "reject", comment="照片看不清")
    assert hazard.status == S.REJECTED
    hazard = services.transition(people["staff"], hazard, "resume")
    assert hazard.status == S.RECTIFYING


@pytest.mark.django_db
def test_fixed_on_the_spot_still_needs_someone_else_to_accept(
    people: dict[str, User], institutions: Any
) -> None:
    with pytest.raises(DomainError):
        general(people, institutions, on_the_spot=True)  # no evidence
    hazard = general(people, institutions, on_the_spot=True, files=[photo()])
    assert hazard.status == S.SUBMITTED and hazard.submitted_by == people["cadre"]
    with pytest.raises(DomainError) as caught:
        services.transition(people["cadre"], hazard, "accept")
    assert caught.value.code == "second_person"
    hazard = services.transition(people["inspector"], hazard, "accept")
    assert hazard.status == S.ACCEPTED


@pytest.mark.django_db
def test_a_clause_of_the_criteria_makes_the_hazard_major_and_it_cannot_start_without_the_five_guarantees(
    people: dict[str, User], institutions: Any
) -> None:
    hazard = major(people, institutions)
    assert hazard.level == "major" and hazard.supervising_level == "county"
    with pytest.raises(DomainError) as caught:
        services.transition(people["cadre"], hazard, "assign", requirement="清理整改到位", days=10)
    assert caught.value.code == "supervisor_required"
    hazard = services.transition(
        people["cadre"], hazard, "assign", requirement="清理整改到位", days=10, supervisor=people["officer"]
    )
    services.update_plan(people["cadre"], hazard, plan_responsible="院长 王某", plan_measures="拆除彩钢板")
    with pytest.raises(DomainError) as caught:
        services.transition(people["staff"], hazard, "start")
    assert caught.value.code == "five_guarantees"
    assert "资金" in caught.value.message or "funds" in caught.value.message
    assert Hazard.objects.get(pk=hazard.pk).status == S.ASSIGNED
    with pytest.raises(IntegrityError), transaction.atomic():  # the database backs up the time limit
        Hazard.objects.filter(pk=hazard.pk).update(status=S.RECTIFYING)
    services.update_plan(people["staff"], hazard, plan_funds="20万元 财政补助", plan_deadline=dt.date(2026, 10, 30),
                         plan_contingency="临时转移住宿老人")  # fmt: skip
    hazard = services.transition(people["staff"], hazard, "start")
    hazard = services.transition(people["staff"], hazard, "submit", measures_taken="已拆除", files=[photo()])
    with pytest.raises(DomainError) as caught:  # the cadre is not the supervising level
        services.transition(people["cadre"], hazard, "accept")
    assert caught.value.code == "supervising_level"
    hazard = services.transition(people["officer"], hazard, "accept")
    hazard = services.transition(people["officer"], hazard, "close")
    assert hazard.status == S.CLOSED


@pytest.mark.django_db
def test_a_major_hazard_counts_for_the_risk_class(people: dict[str, User], institutions: Any) -> None:
    home = institutions["rc_elderly"]
    major(people, institutions)
    assert Institution.objects.get(pk=home.pk).risk_class.code == "D"


@pytest.mark.django_db
def test_the_api_reports_filters_and_names_the_rule(people: dict[str, User], institutions: Any) -> None:
    api = APIClient()
    api.force_authenticate(people["inspector"])
    created = api.post("/api/v1/hazards/", {"institution": institutions["rc_elderly"].pk, "source": "inspection",
                                             "category": "electrical", "level": "general", "description": "私拉电线"},
                       format="json")  # fmt: skip
    assert created.status_code == 201 and created.json()["allowed_actions"] == ["assign"]
    major(people, institutions)
    assert [h["level"] for h in api.get("/api/v1/hazards/?level=major").json()["results"]] == ["major"]
    assert api.get("/api/v1/hazards/?status=open").json()["count"] == 2
    pk = created.json()["id"]
    response = api.post(f"/api/v1/hazards/{pk}/transition/", {"action": "cancel"}, format="json")
    assert response.status_code in {400, 403}
    response = api.post(f"/api/v1/hazards/{pk}/transition/", {"action": "fly"}, format="json")
    assert response.status_code == 400
    # Another county's officer does not see it.
    api.force_authenticate(people["officer"])
    assert api.get(f"/api/v1/hazards/{pk}/").status_code == 200
    zc = User.objects.create(username="zc", display_name="zc", region=institutions["zc_elderly"].region,
                             region_path=institutions["zc_elderly"].region_path)  # fmt: skip
    api.force_authenticate(zc)
    assert api.get(f"/api/v1/hazards/{pk}/").status_code in {403, 404}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real transactions need a server database")
def test_two_people_accepting_at_once_exactly_one_succeeds(
    people: dict[str, User], institutions: Any
) -> None:
    hazard = services.transition(
        people["cadre"], general(people, institutions), "assign", requirement="清理整改到位"
    )
    hazard = services.transition(people["staff"], hazard, "start")
    hazard = services.transition(people["staff"], hazard, "submit", measures_taken="已整改", files=[photo()])
    barrier = threading.Barrier(2)
    results: list[str] = []

    def accept(user: User) -> None:
        try:
            barrier.wait()
            services.transition(User.objects.get(pk=user.pk), Hazard.objects.get(pk=hazard.pk), "accept")
            results.append("ok")
        except DomainError as exc:
            results.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(people[name],)) for name in ("cadre", "inspector")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"] or sorted(results) == ["not_allowed", "ok"]
    assert HazardEvent.objects.filter(hazard=hazard, action="accept").count() == 1


@pytest.mark.django_db
def test_a_notice_states_what_must_be_rectified(people: dict[str, User], institutions: Any) -> None:
    hazard = general(people, institutions)
    with pytest.raises(DomainError) as caught:
        services.transition(people["cadre"], hazard, "assign", requirement="  ", days=5)
    assert (caught.value.code, caught.value.field) == ("requirement_required", "requirement")
    hazard.refresh_from_db()
    assert (hazard.status, hazard.deadline, hazard.events.count()) == ("reported", None, 1)
    api = APIClient()
    api.force_authenticate(people["cadre"])
    refused = api.post(
        f"/api/v1/hazards/{hazard.pk}/transition/", {"action": "assign", "days": 5}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "requirement_required"
    assert Hazard.objects.get(pk=hazard.pk).status == "reported"
