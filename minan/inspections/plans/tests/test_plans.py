"""Inspection plans and tasks: periods and working-day due dates, idempotent
generation, edits from the next period, assignment (manual and automatic) with the scope it brings,
missed tasks and their reminders, and the pages and API on top."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import time_machine
from django.db import connection, connections
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError
from minan.duty import services as duty
from minan.inspections.execution import services
from minan.inspections.models import Expert, InspectionPlan, InspectionTask
from minan.inspections.plans import services as plans
from minan.inspections.tests.factories import make_template
from minan.institutions.models import Institution, RiskClass
from minan.notify.models import Notification

pytestmark = pytest.mark.django_db

D = dt.date


def at(day: dt.date) -> Any:
    """10:00 Beijing time on that day."""
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC), tick=False)


def fresh(user: Any) -> Any:
    return User.objects.get(pk=user.pk)


def sees(user: Any, institution: Institution) -> bool:
    return Institution.objects.for_user(fresh(user)).filter(pk=institution.pk).exists()


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return {
        "home": home,
        "staff": make_user("staff", roles=["institution_staff"], institution=home),
        "cadre": fresh(cadre),
        "rc_officer": make_user("rc_officer2", roles=["county_officer"], region=tree["rencheng"]),
        "zc_officer": make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"]),
        "city": city_office,
    }


def cross_plan(actor: Any, institutions: list[Institution], **extra: Any) -> InspectionPlan:
    fields = {"name": "交叉互查", "template_code": "cross-check", "kind": "cross", "cadence": "quarterly",
              "institutions": institutions, "starts_on": D(2026, 10, 1), **extra}  # fmt: skip
    return plans.save_plan(actor, None, **fields)


# --- periods and due dates -----------------------------------------------------------------------------------------


def test_periods_contain_the_day() -> None:
    assert plans.periods("daily", D(2026, 10, 3)) == (D(2026, 10, 3), D(2026, 10, 3))
    assert plans.periods("weekly", D(2026, 10, 8)) == (D(2026, 10, 5), D(2026, 10, 11))  # weeks start Monday
    assert plans.periods("weekly", D(2026, 10, 5)) == (D(2026, 10, 5), D(2026, 10, 11))
    assert plans.periods("monthly", D(2026, 2, 14)) == (D(2026, 2, 1), D(2026, 2, 28))
    assert plans.periods("monthly", D(2026, 12, 31)) == (D(2026, 12, 1), D(2026, 12, 31))
    assert plans.periods("quarterly", D(2026, 11, 15)) == (D(2026, 10, 1), D(2026, 12, 31))
    assert plans.periods("quarterly", D(2026, 3, 31)) == (D(2026, 1, 1), D(2026, 3, 31))
    assert plans.periods("half_yearly", D(2026, 7, 1)) == (D(2026, 7, 1), D(2026, 12, 31))
    assert plans.periods("yearly", D(2026, 6, 1)) == (D(2026, 1, 1), D(2026, 12, 31))
    with pytest.raises(ValueError):
        plans.periods("class", D(2026, 6, 1))


def test_a_risk_class_gets_the_shortest_period_meeting_its_minimum() -> None:
    assert [plans.class_cadence(n) for n in (1, 2, 3, 4, 6, 12, 24, 52, 100)] == [
        "yearly", "half_yearly", "quarterly", "quarterly", "monthly", "monthly", "weekly", "weekly", "daily",
    ]  # fmt: skip


def test_due_dates_count_working_days_of_the_2026_calendar() -> None:
    last_day = InspectionPlan(starts_on=D(2026, 1, 1), due_working_days=None)
    assert plans.due_date(last_day, D(2026, 10, 1), D(2026, 10, 31)) == D(2026, 10, 30)  # 31st is a Saturday
    assert plans.due_date(last_day, D(2026, 10, 5), D(2026, 10, 11)) == D(2026, 10, 10)  # 调休 Saturday
    assert plans.due_date(last_day, D(2026, 9, 28), D(2026, 10, 4)) == D(2026, 9, 30)  # National Day week
    assert plans.due_date(last_day, D(2026, 10, 3), D(2026, 10, 3)) == D(
        2026, 10, 8
    )  # a holiday: next working day
    assert plans.due_date(last_day, D(2026, 10, 1), D(2026, 12, 31)) == D(2026, 12, 31)
    after = InspectionPlan(starts_on=D(2026, 1, 1), due_working_days=5)
    assert plans.due_date(after, D(2026, 10, 1), D(2026, 10, 31)) == D(2026, 10, 13)  # calendar reference
    after.due_working_days = 3
    assert plans.due_date(after, D(2026, 10, 1), D(2026, 10, 31)) == D(
        2026, 10, 10
    )  # the 调休 Saturday counts
    after.due_working_days = 9
    assert plans.due_date(after, D(2026, 10, 5), D(2026, 10, 11)) == D(2026, 10, 10)  # never after the period
    after.due_working_days = 0
    assert plans.due_date(after, D(2026, 10, 1), D(2026, 10, 31)) == D(2026, 10, 8)


# --- generation ----------------------------------------------------------------------------------------------------


def test_a_monthly_plan_for_300_institutions_makes_300_tasks_with_working_day_due_dates_once(
    tree: dict[str, Any], city_office: Any
) -> None:
    make_template("t-monthly", kinds=["self"])
    towns = [tree["rc_town"], tree["zc_town"]]
    Institution.objects.bulk_create(
        Institution(name=f"养老院{n:03d}", kind="elderly_care", region=towns[n % 2],
                    region_path=towns[n % 2].region_path)
        for n in range(300)
    )  # fmt: skip
    Institution.objects.create(
        name="殡仪馆", kind="funeral", region=tree["rc_town"], region_path=tree["rc_town"].region_path
    )
    Institution.objects.create(name="已停业养老院", kind="elderly_care", region=tree["rc_town"],
                               region_path=tree["rc_town"].region_path, status="closed")  # fmt: skip
    common = {"template_code": "t-monthly", "kind": "self", "cadence": "monthly", "region": tree["city"],
              "institution_kinds": ["elderly_care"], "starts_on": D(2026, 10, 1)}  # fmt: skip
    with at(D(2026, 10, 8)):
        monthly = plans.save_plan(city_office, None, name="每月消防自查", **common)
        early = plans.save_plan(city_office, None, name="月初消防自查", due_working_days=5, **common)
        assert plans.generate() == 600
        assert plans.generate() == 0  # the generator runs again: nothing twice
        assert plans.generate(plan=monthly) == 0
    assert InspectionTask.objects.filter(plan=monthly).count() == 300
    assert set(
        InspectionTask.objects.filter(plan=monthly).values_list(
            "period_start", "period_end", "due_on", "status"
        )
    ) == {(D(2026, 10, 1), D(2026, 10, 31), D(2026, 10, 30), "open")}
    assert set(InspectionTask.objects.filter(plan=early).values_list("due_on", flat=True)) == {
        D(2026, 10, 13)
    }
    assert not (
        InspectionTask.objects.values("plan", "institution", "period_start")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not InspectionTask.objects.filter(institution__status="closed").exists()
    assert not InspectionTask.objects.filter(institution__kind="funeral").exists()
    assert not InspectionTask.objects.exclude(assignee=None).exists()  # self-inspections: the staff do them
    # Next month, the next period; the task of October stays.
    with at(D(2026, 11, 2)):
        assert plans.generate(plan=monthly) == 300
    assert set(
        InspectionTask.objects.filter(plan=monthly, period_start=D(2026, 11, 1)).values_list(
            "due_on", flat=True
        )
    ) == {D(2026, 11, 30)}


def test_class_cadence_follows_each_institutions_risk_class(
    tree: dict[str, Any], institutions: Any, city_office: Any
) -> None:
    make_template("t-class")
    classes = {rc.code: rc for rc in RiskClass.objects.all()}
    assert classes["D"].min_inspections_per_year == 12 and classes["C"].min_inspections_per_year == 4
    Institution.objects.filter(pk=institutions["rc_elderly"].pk).update(risk_class=classes["D"])
    Institution.objects.filter(pk=institutions["zc_elderly"].pk).update(risk_class=classes["A"],
                                                                        class_override=classes["C"])  # fmt: skip
    with at(D(2026, 10, 8)):
        plan = plans.save_plan(city_office, None, name="分类监管", template_code="t-class", kind="sector",
                               cadence="class", region=tree["city"], starts_on=D(2026, 1, 1),
                               auto_assign=False)  # fmt: skip
        assert plans.generate() == 4
    tasks = {
        t.institution_id: (t.period_start, t.period_end, t.due_on)
        for t in InspectionTask.objects.filter(plan=plan)
    }
    assert tasks[institutions["rc_elderly"].pk] == (
        D(2026, 10, 1),
        D(2026, 10, 31),
        D(2026, 10, 30),
    )  # D: monthly
    assert tasks[institutions["zc_elderly"].pk] == (
        D(2026, 10, 1),
        D(2026, 12, 31),
        D(2026, 12, 31),
    )  # C by hand
    assert tasks[institutions["zc_child"].pk] == (
        D(2026, 1, 1),
        D(2026, 12, 31),
        D(2026, 12, 31),
    )  # default A
    # A stricter class starts at once; the yearly task stays.
    Institution.objects.filter(pk=institutions["zc_child"].pk).update(risk_class=classes["D"])
    with at(D(2026, 10, 9)):
        assert plans.generate() == 1
    assert InspectionTask.objects.filter(plan=plan, institution=institutions["zc_child"]).count() == 2


def test_an_edit_applies_from_the_next_period_and_uncovered_tasks_are_cancelled(
    tree: dict[str, Any], institutions: Any, city_office: Any
) -> None:
    make_template("t-monthly")
    with at(D(2026, 10, 8)):
        plan = plans.save_plan(city_office, None, name="消防月查", template_code="t-monthly", kind="sector",
                               cadence="monthly", institutions=[institutions["rc_elderly"], institutions["zc_elderly"]],
                               starts_on=D(2026, 10, 1), auto_assign=False)  # fmt: skip
        assert plans.generate() == 2
        plans.save_plan(
            city_office, plan, cadence="weekly", due_working_days=5, institutions=[institutions["rc_elderly"]]
        )
        assert plans.generate() == 0
    left = InspectionTask.objects.get(plan=plan, institution=institutions["rc_elderly"])
    assert (left.period_start, left.due_on, left.status) == (D(2026, 10, 1), D(2026, 10, 30), "open")  # kept
    gone = InspectionTask.objects.get(plan=plan, institution=institutions["zc_elderly"])
    assert gone.status == "cancelled"
    with at(D(2026, 10, 28)):  # still inside October's period: no weekly task yet
        assert plans.generate() == 0
    with at(D(2026, 11, 2)):
        assert plans.generate() == 1
    week = InspectionTask.objects.get(plan=plan, period_start=D(2026, 11, 2))
    assert (week.period_end, week.due_on) == (
        D(2026, 11, 8),
        D(2026, 11, 6),
    )  # 5 working days, within the week
    changes = AuditEvent.objects.get(action="inspection_plan.change").changes
    assert changes["cadence"] == ["monthly", "weekly"] and "institutions" in changes
    assert AuditEvent.objects.filter(action="inspection_task.cancel").count() == 1


def test_a_plan_runs_only_between_its_days_and_while_active(institutions: Any, city_office: Any) -> None:
    make_template("t-monthly")
    with at(D(2026, 10, 8)):
        plan = plans.save_plan(city_office, None, name="十一月起", template_code="t-monthly", kind="sector",
                               cadence="monthly", institutions=[institutions["rc_elderly"]],
                               starts_on=D(2026, 11, 1), ends_on=D(2026, 11, 30), auto_assign=False)  # fmt: skip
        assert plans.generate() == 0
        with pytest.raises(DomainError):
            plans.generate_now(city_office, plan)
    with at(D(2026, 11, 3)):
        assert plans.generate() == 1
        plans.deactivate(city_office, plan)
    assert InspectionTask.objects.get(plan=plan).status == "cancelled"
    with at(D(2026, 11, 4)):
        assert plans.generate() == 0


def test_a_refused_plan_writes_nothing(
    tree: dict[str, Any], institutions: Any, rencheng_officer: Any, make_user: Any
) -> None:
    make_template("t-daily", kinds=["self"])
    make_template("draft-only", status="draft")
    good = {
        "name": "计划",
        "template_code": "t-daily",
        "kind": "self",
        "cadence": "daily",
        "starts_on": D(2026, 10, 1),
    }
    refusals = [
        ({"template_code": "draft-only"}, "template_code"),
        ({"template_code": "no-such"}, "template_code"),
        ({"kind": "cross"}, "kind"),  # the checklist is for self-inspections only
        ({"region": tree["zoucheng"]}, "region"),
        ({"region": tree["city"]}, "region"),
        ({"institutions": [institutions["zc_elderly"]]}, "institutions"),
        ({"ends_on": D(2026, 9, 30)}, "ends_on"),
        ({"cadence": "hourly"}, "cadence"),
        ({"risk_classes": ["Z"]}, "risk_classes"),
        ({"name": " "}, "name"),
    ]
    for change, field in refusals:
        with pytest.raises(DomainError) as refused:
            plans.save_plan(rencheng_officer, None, **{**good, **change})
        assert refused.value.field == field, change
    inspector = make_user("someone", roles=["inspector"], region=tree["rencheng"])
    with pytest.raises(DomainError):
        plans.save_plan(inspector, None, **good)
    assert not InspectionPlan.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="inspection_plan.").exists()
    plan = plans.save_plan(rencheng_officer, None, **good)
    assert plan.region_id == tree["rencheng"].pk and plan.region_path == tree["rencheng"].region_path
    with pytest.raises(DomainError):
        plans.save_plan(rencheng_officer, plan, ends_on=D(2026, 1, 1))
    plan.refresh_from_db()
    assert plan.ends_on is None


# --- assignment ----------------------------------------------------------------------------------------------------


def test_a_cross_inspection_cannot_be_assigned_to_an_officer_of_the_inspected_county(
    client: Any, people: dict[str, Any], rencheng_officer: Any, institutions: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    home = people["home"]  # in 任城区
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [home])
        plans.generate()
        task = InspectionTask.objects.get(plan=plan)
        # Automatic assignment never picks an officer of the inspected county.
        assert task.assignee_id == people["zc_officer"].pk
        assert sees(people["zc_officer"], home)
        refused_message = gettext("A cross inspection is done by an officer of another county.")

        # The service
        with pytest.raises(DomainError) as refused:
            plans.assign(people["city"], task, rencheng_officer)
        assert refused.value.code == "performer" and refused.value.message == refused_message
        # The page
        login_client(client, people["city"])
        response = client.post(
            reverse("inspections:task_assign", args=[task.pk]), {"user": rencheng_officer.pk}
        )
        assert response.status_code == 400
        assert escape(refused_message) in response.content.decode()
        # The API
        api = APIClient()
        api.force_authenticate(people["city"])
        answer = api.post(
            f"/api/v1/inspection-tasks/{task.pk}/assign/", {"user": rencheng_officer.pk}, format="json"
        )
        assert answer.status_code == 400 and answer.json()["code"] == "performer"
        assert answer.json()["field"] == "user"
    task.refresh_from_db()
    assert task.assignee_id == people["zc_officer"].pk  # unchanged
    assert not sees(rencheng_officer, institutions["zc_elderly"])
    assert not AuditEvent.objects.filter(action="inspection_task.assign").exists()


def test_automatic_cross_assignment_leaves_a_task_nobody_may_take_unassigned(
    people: dict[str, Any], rencheng_officer: Any, settings: Any, institutions: Any, make_user: Any, tree: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    zc_officer = people["zc_officer"]
    zc_officer.is_active = False
    zc_officer.save(update_fields=["is_active"])
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [people["home"], institutions["rc_funeral"]])
        plans.generate()
        # Only 任城 officers remain: nobody may take a cross inspection of a 任城 institution.
        assert list(InspectionTask.objects.filter(plan=plan).values_list("assignee", flat=True)) == [
            None,
            None,
        ]
        other = make_user("zc_new", roles=["county_officer"], region=tree["zoucheng"])
        settings.INSPECTION_DAILY_CAP = 1
        plans.generate()  # a later run tries again, one a day for the new officer (same due day)
    assert sorted(
        InspectionTask.objects.filter(plan=plan).values_list("assignee", flat=True), key=str
    ) == sorted([other.pk, None], key=str)
    assert AuditEvent.objects.filter(action="inspection_task.auto_assign").count() == 1


def test_automatic_assignment_per_kind(
    people: dict[str, Any], institutions: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    make_template("any")
    home = people["home"]
    busy = make_user("busy_inspector", roles=["inspector"], region=tree["rencheng"])
    idle = make_user("idle_inspector", roles=["inspector"], region=tree["rencheng"])
    make_user("elsewhere", roles=["inspector"], region=tree["zoucheng"])  # does not hold 任城 in scope
    expert = make_user("fire_expert", roles=["expert"], region=tree["city"])
    UserScope.objects.filter(user=expert).delete()  # an expert of the roster, with no place of its own
    Expert.objects.create(user=expert, qualification="注册消防工程师")
    lapsed = make_user("old_expert", roles=["expert"], region=tree["city"])
    Expert.objects.create(user=lapsed, qualification="注册消防工程师", valid_until=D(2026, 1, 1))
    with at(D(2026, 10, 8)):
        made = {}
        for kind in ("duty", "self", "expert", "sector"):
            made[kind] = plans.save_plan(people["city"], None, name=kind, template_code="any", kind=kind,
                                         cadence="monthly", institutions=[home], starts_on=D(2026, 10, 1))  # fmt: skip
        # The busy inspector already has a task due that day in another plan.
        other = plans.save_plan(people["city"], None, name="other", template_code="any", kind="sector",
                                cadence="monthly", institutions=[institutions["rc_funeral"]], starts_on=D(2026, 10, 1),
                                auto_assign=False)  # fmt: skip
        plans.generate(plan=other)
        plans.assign(people["city"], InspectionTask.objects.get(plan=other), busy)
        plans.generate()
    assigned = {kind: InspectionTask.objects.get(plan=plan).assignee_id for kind, plan in made.items()}
    assert assigned["duty"] == people["cadre"].pk
    assert assigned["self"] is None
    assert assigned["expert"] == expert.pk
    assert UserScope.objects.filter(user=expert, institution=home, source="inspection").exists()
    assert sees(expert, home)  # the task brought the institution into the expert's scope
    assert assigned["sector"] in {idle.pk, people["rc_officer"].pk}  # the least loaded, not the busy one


def test_reassigning_moves_the_managed_scope(
    people: dict[str, Any], make_user: Any, tree: dict[str, Any]
) -> None:
    make_template("cross-check", kinds=["cross"])
    home = people["home"]
    second = make_user("zc_second", roles=["county_officer"], region=tree["zoucheng"])
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [home], auto_assign=False)
        plans.generate()
        task = InspectionTask.objects.get(plan=plan)
        assert task.assignee_id is None and not sees(people["zc_officer"], home)
        plans.assign(people["city"], task, people["zc_officer"])
        assert sees(people["zc_officer"], home) and not sees(second, home)
        task = plans.assign(people["city"], task, second)
    assert task.assignee_id == second.pk
    assert not sees(people["zc_officer"], home)  # the former assignee loses the institution
    assert sees(second, home)  # the new one gains it
    assert not UserScope.objects.filter(user=people["zc_officer"], source="inspection").exists()
    events = list(
        AuditEvent.objects.filter(action="inspection_task.assign")
        .order_by("pk")
        .values_list("changes", flat=True)
    )
    assert events == [
        {"assignee": [None, people["zc_officer"].pk]},
        {"assignee": [people["zc_officer"].pk, second.pk]},
    ]
    with at(D(2026, 10, 8)):
        plans.assign(people["city"], task, None)
    assert not sees(second, home)


def test_assignment_refusals(
    people: dict[str, Any], make_user: Any, tree: dict[str, Any], rencheng_officer: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [people["home"]], auto_assign=False)
        plans.generate()
        task = InspectionTask.objects.get(plan=plan)
        gone = make_user("zc_gone", roles=["county_officer"], region=tree["zoucheng"])
        User.objects.filter(pk=gone.pk).update(is_active=False)
        with pytest.raises(DomainError) as refused:
            plans.assign(people["city"], task, fresh(gone))
        assert refused.value.field == "user"
        with pytest.raises(DomainError):  # a county officer may not see the other county's people
            plans.assign(rencheng_officer, task, people["zc_officer"])
        with pytest.raises(DomainError):  # no permission to assign
            plans.assign(people["cadre"], task, people["zc_officer"])
        InspectionTask.objects.filter(pk=task.pk).update(status="done")
        with pytest.raises(DomainError):
            plans.assign(people["city"], task, people["zc_officer"])
    assert InspectionTask.objects.get(pk=task.pk).assignee_id is None


# --- missed tasks --------------------------------------------------------------------------------------------------


def told() -> list[tuple[str, str]]:
    return sorted(
        Notification.objects.filter(event="inspections.missed").values_list(
            "recipient__username", "created_at__date"
        )
    )


def test_missed_tasks_are_flagged_and_reminded_once_per_step(people: dict[str, Any]) -> None:
    make_template("t-monthly", kinds=["self"])
    with at(D(2026, 10, 8)):
        plan = plans.save_plan(people["city"], None, name="自查", template_code="t-monthly", kind="self",
                               cadence="monthly", institutions=[people["home"]], starts_on=D(2026, 10, 1))  # fmt: skip
        plans.generate()
    task = InspectionTask.objects.get(plan=plan)
    assert task.due_on == D(2026, 10, 30)
    expected = {
        D(2026, 10, 30): {"missed": 0, "step1": 0, "step2": 0},  # the due day: still open
        D(2026, 10, 31): {"missed": 1, "step1": 0, "step2": 0},  # missed; Saturday: no reminder yet
        D(2026, 11, 2): {"missed": 0, "step1": 1, "step2": 0},  # first working day after: staff and cadre
        D(2026, 11, 3): {"missed": 0, "step1": 0, "step2": 0},
        D(2026, 11, 4): {"missed": 0, "step1": 0, "step2": 1},  # 3 working days late: + the county
    }
    for day, result in expected.items():
        with at(day):
            assert plans.flag_missed() == result, day
            assert plans.flag_missed() == {"missed": 0, "step1": 0, "step2": 0}, (
                day
            )  # a second sweep: nothing
    assert told() == [
        ("cadre", D(2026, 11, 2)), ("cadre", D(2026, 11, 4)), ("rc_officer2", D(2026, 11, 4)),
        ("staff", D(2026, 11, 2)), ("staff", D(2026, 11, 4)),
    ]  # fmt: skip
    task.refresh_from_db()
    assert (task.status, task.escalation_step) == ("missed", 2)
    # Missed is not closed: the institution can still do it late.
    with at(D(2026, 11, 5)):
        inspection = services.start(fresh(people["staff"]), people["home"], kind="self", task=task)
    assert inspection.task_id == task.pk


def test_a_missed_assigned_task_reminds_its_assignee(people: dict[str, Any]) -> None:
    make_template("cross-check", kinds=["cross"])
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [people["home"]], cadence="weekly")
        plans.generate()
    task = InspectionTask.objects.get(plan=plan)
    assert (task.due_on, task.assignee_id) == (D(2026, 10, 10), people["zc_officer"].pk)
    with at(D(2026, 10, 16)):  # a sweep that did not run for days sends only the step reached
        assert plans.flag_missed() == {"missed": 1, "step1": 0, "step2": 1}
    assert {name for name, _day in told()} == {"zc_officer", "cadre", "rc_officer2"}  # not the staff
    assert sees(people["zc_officer"], people["home"])  # a missed task keeps the scope it brought


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real transactions need a server database")
def test_two_workers_flagging_at_once_remind_once(people: dict[str, Any]) -> None:
    make_template("t-monthly", kinds=["self"])
    with at(D(2026, 10, 8)):
        plans.save_plan(people["city"], None, name="自查", template_code="t-monthly", kind="self",
                        cadence="monthly", institutions=[people["home"]], starts_on=D(2026, 10, 1))  # fmt: skip
        plans.generate()
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(plans.flag_missed(D(2026, 11, 2)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["missed"] for r in results) == 1 and sum(r["step1"] for r in results) == 1
    assert Notification.objects.filter(event="inspections.missed").count() == 2  # staff and cadre, once


# --- pages ---------------------------------------------------------------------------------------------------------


def test_plan_pages_create_show_and_generate(
    client: Any, people: dict[str, Any], tree: dict[str, Any]
) -> None:
    make_template("t-monthly", kinds=["self"])
    form = {"name": "每月消防自查", "template_code": "t-monthly", "kind": "self", "cadence": "monthly",
            "region": tree["rencheng"].pk, "institution_kinds": ["elderly_care"], "starts_on": "2026-10-01",
            "auto_assign": "on"}  # fmt: skip
    with at(D(2026, 10, 8)):
        login_client(client, people["city"])
        assert client.get(reverse("inspections:plan_new")).status_code == 200
        refused = client.post(reverse("inspections:plan_new"), {**form, "kind": "cross"})
        assert refused.status_code == 400 and not InspectionPlan.objects.exists()
        response = client.post(reverse("inspections:plan_new"), form)
        plan = InspectionPlan.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("inspections:plan_detail", args=[plan.pk])
        assert client.post(reverse("inspections:plan_generate", args=[plan.pk])).status_code == 302
        assert InspectionTask.objects.filter(plan=plan).count() == 1
        assert AuditEvent.objects.filter(action="inspection_plan.generate").exists()
        page = client.get(reverse("inspections:plan_detail", args=[plan.pk])).content.decode()
        assert 'data-count="open">' in page and people["home"].name in page
        assert "每月消防自查" in client.get(reverse("inspections:plan_list")).content.decode()
        edit = client.get(reverse("inspections:plan_edit", args=[plan.pk]))
        assert edit.status_code == 200 and "每月消防自查" in edit.content.decode()
        changed = client.post(reverse("inspections:plan_edit", args=[plan.pk]), {**form, "name": "月度自查"})
        assert changed.status_code == 302 and InspectionPlan.objects.get().name == "月度自查"
        # Institution staff see their self-inspection among their tasks, and cannot plan.
        login_client(client, people["staff"])
        mine = client.get(reverse("inspections:task_mine")).content.decode()
        assert f'data-task="{InspectionTask.objects.get().pk}"' in mine
        assert client.get(reverse("inspections:plan_new")).status_code == 403
        assert client.post(reverse("inspections:plan_generate", args=[plan.pk])).status_code == 403


def test_task_list_filters_and_scope(
    client: Any, people: dict[str, Any], institutions: Any, rencheng_officer: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    with at(D(2026, 10, 8)):
        plan = cross_plan(people["city"], [people["home"], institutions["zc_elderly"]], auto_assign=False)
        plans.generate()
    rc_task = InspectionTask.objects.get(plan=plan, institution=people["home"])
    zc_task = InspectionTask.objects.get(plan=plan, institution=institutions["zc_elderly"])
    InspectionTask.objects.filter(pk=zc_task.pk).update(status="missed")
    login_client(client, people["city"])
    url = reverse("inspections:task_list")
    page = client.get(url, {"missed": "1"}).content.decode()
    assert f'data-task="{zc_task.pk}"' in page and f'data-task="{rc_task.pk}"' not in page
    page = client.get(url, {"county": "370811", "assignee": "none"}).content.decode()
    assert (
        f'data-task="{rc_task.pk}"' in page
        and f'data-task="{zc_task.pk}"' not in page
        and "data-unassigned" in page
    )
    page = client.get(
        url, {"due_from": "2026-12-31", "due_to": "2026-12-31", "kind": "cross"}
    ).content.decode()
    assert page.count("data-task=") == 2
    assert client.get(url, {"due_from": "2027-01-01"}).content.decode().count("data-task=") == 0
    login_client(client, rencheng_officer)
    page = client.get(url).content.decode()
    assert f'data-task="{rc_task.pk}"' in page and "邹城" not in page
    assert client.get(reverse("inspections:task_detail", args=[zc_task.pk])).status_code == 404
    assert client.get(reverse("inspections:task_assign", args=[zc_task.pk])).status_code == 404
    assert (
        client.get(reverse("inspections:plan_detail", args=[plan.pk])).status_code == 404
    )  # the city's plan


def _count(fetch: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_task_list_query_count_does_not_grow_with_rows(
    client: Any, people: dict[str, Any], tree: dict[str, Any], make_user: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    extra = [Institution.objects.create(name=f"敬老院{n}", kind="elderly_care", region=tree["rc_town"],
                                        region_path=tree["rc_town"].region_path) for n in range(12)]  # fmt: skip
    with at(D(2026, 10, 8)):
        small = cross_plan(people["city"], [people["home"]], name="小")
        plans.generate()
    login_client(client, people["city"])
    url = reverse("inspections:task_list")
    few = _count(lambda: client.get(url))
    with at(D(2026, 10, 8)):
        cross_plan(people["city"], extra, name="大")
        plans.generate()
    assert InspectionTask.objects.count() == 13 and InspectionTask.objects.exclude(assignee=None).exists()
    many = _count(lambda: client.get(url))
    assert many == few
    assert _count(lambda: client.get(reverse("inspections:plan_detail", args=[small.pk]))) <= few + 8
    assert _count(lambda: client.get(reverse("inspections:plan_list"))) < 20


# --- API -----------------------------------------------------------------------------------------------------------


def test_api_plans_and_tasks(
    people: dict[str, Any], tree: dict[str, Any], institutions: Any, rencheng_officer: Any
) -> None:
    make_template("cross-check", kinds=["cross"])
    api = APIClient()
    api.force_authenticate(people["city"])
    body = {"name": "季度交叉互查", "template_code": "cross-check", "kind": "cross", "cadence": "quarterly",
            "institutions": [people["home"].pk], "starts_on": "2026-10-01"}  # fmt: skip
    refused = api.post("/api/v1/inspection-plans/", {**body, "kind": "self"}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "kind"
    with at(D(2026, 10, 8)):
        created = api.post("/api/v1/inspection-plans/", body, format="json")
        assert created.status_code == 201, created.json()
        plan_id = created.json()["id"]
        assert created.json()["region"] == "370800" and created.json()["institutions"] == [people["home"].pk]
        changed = api.patch(f"/api/v1/inspection-plans/{plan_id}/", {"due_working_days": 10}, format="json")
        assert changed.status_code == 200 and changed.json()["due_working_days"] == 10
        generated = api.post(f"/api/v1/inspection-plans/{plan_id}/generate/")
        assert generated.status_code == 200 and generated.json() == {"created": 1}
        assert api.post(f"/api/v1/inspection-plans/{plan_id}/generate/").json() == {"created": 0}
    listed = api.get("/api/v1/inspection-plans/").json()
    assert listed["results"][0]["task_counts"]["open"] == 1
    tasks = api.get("/api/v1/inspection-tasks/", {"plan": plan_id, "status": "todo"}).json()["results"]
    assert len(tasks) == 1 and tasks[0]["assignee"] == people["zc_officer"].pk
    task_id = tasks[0]["id"]
    assert api.get("/api/v1/inspection-tasks/", {"assignee": "none"}).json()["count"] == 0
    unassigned = api.post(f"/api/v1/inspection-tasks/{task_id}/assign/", {"user": None}, format="json")
    assert unassigned.status_code == 200 and unassigned.json()["assignee"] is None
    again = api.post(
        f"/api/v1/inspection-tasks/{task_id}/assign/", {"user": people["zc_officer"].pk}, format="json"
    )
    assert again.status_code == 200 and again.json()["assignee_name"] == "zc_officer"
    mine = APIClient()
    mine.force_authenticate(people["zc_officer"])
    assert [t["id"] for t in mine.get("/api/v1/inspection-tasks/", {"mine": "1"}).json()["results"]] == [
        task_id
    ]
    # Outside the scope: 404; without the permission: 403.
    officer = APIClient()
    officer.force_authenticate(rencheng_officer)
    assert officer.get(f"/api/v1/inspection-plans/{plan_id}/").status_code == 404
    assert officer.post(f"/api/v1/inspection-plans/{plan_id}/generate/").status_code == 404
    cadre = APIClient()
    cadre.force_authenticate(people["cadre"])
    assert (
        cadre.post(f"/api/v1/inspection-tasks/{task_id}/assign/", {"user": None}, format="json").status_code
        == 403
    )
