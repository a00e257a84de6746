"""包保督查 visits: who may record them, the configurable visit rule, what is overdue and for whom."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.duty import selectors, services
from minan.duty.models import DutyItem, DutyVisit, DutyVisitPhoto, Recurrence

TODAY = dt.date(2026, 11, 28)


def png(name: str = "p.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def cadre(make_user: Any, tree: dict[str, Any]) -> User:
    user = make_user("cadre_a", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=user).delete()  # a cadre sees only what it is responsible for
    return user


@pytest.fixture
def other_cadre(make_user: Any, tree: dict[str, Any]) -> User:
    user = make_user("cadre_b", roles=["cadre"], region=tree["zoucheng"])
    UserScope.objects.filter(user=user).delete()
    return user


@pytest.fixture
def assigned(city_office: Any, cadre: User, other_cadre: User, institutions: Any) -> dict[str, Any]:
    since = dt.date(2026, 6, 1)
    services.assign_cadre(city_office, institutions["rc_elderly"], cadre, starts_on=since)
    services.assign_cadre(city_office, institutions["rc_funeral"], cadre, starts_on=since)
    services.assign_cadre(city_office, institutions["zc_elderly"], other_cadre, starts_on=since)
    return institutions


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # drops the cached scope entries


# --- the rule ----------------------------------------------------------------------------------------------


def test_periods_keep_the_day_and_clamp_to_the_month() -> None:
    assert selectors.add_period(dt.date(2026, 1, 31), Recurrence.MONTHLY) == dt.date(2026, 2, 28)
    assert selectors.add_period(dt.date(2026, 11, 30), Recurrence.QUARTERLY) == dt.date(2027, 2, 28)
    assert selectors.add_period(dt.date(2026, 12, 15), Recurrence.MONTHLY) == dt.date(2027, 1, 15)
    assert selectors.add_period(dt.date(2026, 8, 31), Recurrence.HALF_YEARLY) == dt.date(2027, 2, 28)
    assert selectors.add_period(dt.date(2026, 11, 28), Recurrence.WEEKLY) == dt.date(2026, 12, 5)


def test_the_overdue_cutoff_is_exact_for_every_rule_and_day() -> None:
    """A last visit before the cutoff is overdue, one on it is not: checked against add_period itself."""
    day = dt.date(2027, 1, 1)
    for _n in range(800):
        for rule in Recurrence.values[1:]:
            cutoff = selectors.overdue_cutoff(day, rule)
            assert (
                selectors.add_period(cutoff - dt.timedelta(days=1), rule)
                < day
                <= selectors.add_period(cutoff, rule)
            )
        day += dt.timedelta(days=1)


@pytest.mark.django_db
def test_a_late_recorded_visit_does_not_move_the_last_visit_back(assigned: Any, cadre: User) -> None:
    from minan.duty.models import DutyAssignment

    home = assigned["rc_elderly"]
    services.record_visit(fresh(cadre), home, visited_on=dt.date(2026, 11, 20), checked="巡查")
    services.record_visit(fresh(cadre), home, visited_on=dt.date(2026, 11, 3), checked="补录")
    assert DutyAssignment.objects.get(institution=home, active=True).last_visit_on == dt.date(2026, 11, 20)


@pytest.mark.django_db
def test_the_seeded_rule_is_monthly_and_follows_the_duty_list(assigned: Any, cadre: User) -> None:
    assert selectors.visit_rule() == Recurrence.MONTHLY
    services.record_visit(
        fresh(cadre), assigned["rc_elderly"], visited_on=dt.date(2026, 11, 10), checked="消防通道"
    )
    rows = {r.assignment.institution.name: r for r in selectors.my_institutions(fresh(cadre))}
    assert rows["任城区古槐敬老院"].next_due == dt.date(2026, 12, 10)
    assert rows["任城区古槐敬老院"].overdue is False
    # Never visited since 1 June: due 1 July, overdue.
    assert rows["任城区殡仪馆"].last_visit is None
    assert rows["任城区殡仪馆"].next_due == dt.date(2026, 7, 1)
    assert rows["任城区殡仪馆"].overdue is True
    # An administrator makes the rule weekly in the duty list: the due date moves.
    DutyItem.objects.filter(task=DutyItem.Task.DUTY_VISIT).update(recurrence=Recurrence.WEEKLY)
    rows = {r.assignment.institution.name: r for r in selectors.my_institutions(fresh(cadre))}
    assert rows["任城区古槐敬老院"].next_due == dt.date(2026, 11, 17)
    assert rows["任城区古槐敬老院"].overdue is True


@pytest.mark.django_db
def test_a_visit_by_the_previous_cadre_does_not_count_for_the_new_one(
    assigned: Any, cadre: User, other_cadre: User, city_office: Any
) -> None:
    home = assigned["rc_elderly"]
    services.record_visit(fresh(cadre), home, visited_on=dt.date(2026, 11, 20), checked="巡查")
    services.assign_cadre(city_office, home, other_cadre, starts_on=dt.date(2026, 11, 25))
    row = next(
        r for r in selectors.my_institutions(fresh(other_cadre)) if r.assignment.institution_id == home.pk
    )
    assert row.last_visit is None
    assert row.next_due == dt.date(2026, 12, 25)


# --- who sees what is overdue -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_overdue_lists_follow_scope(
    assigned: Any, cadre: User, other_cadre: User, rencheng_officer: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    services.record_visit(
        fresh(cadre), assigned["rc_elderly"], visited_on=dt.date(2026, 11, 2), checked="巡查"
    )
    names = lambda user: [r.assignment.institution.name for r in selectors.overdue_visits(fresh(user))]  # noqa: E731
    assert names(cadre) == ["任城区殡仪馆"]
    assert names(other_cadre) == ["邹城市钢山养老中心"]
    assert names(rencheng_officer) == ["任城区殡仪馆"]
    # A supervision group's leader sees the overdue visits of the counties the group covers.
    leader = make_user("leader", roles=["supervision_member"], region=tree["city"])
    UserScope.objects.filter(user=leader).delete()
    assert names(leader) == []
    services.save_group(None, None, name="第一督导组", leader=leader, members=[], counties=[tree["zoucheng"]])
    assert names(leader) == ["邹城市钢山养老中心"]


@pytest.mark.django_db
def test_home_page_lists_overdue_visits_and_coverage(
    assigned: Any, cadre: User, client: Any, city_office: Any
) -> None:
    services.record_visit(
        fresh(cadre), assigned["rc_elderly"], visited_on=dt.date(2026, 11, 2), checked="巡查"
    )
    total, counties = selectors.coverage_figures(city_office)
    # Four operating institutions; three have a cadre; one was visited this month.
    assert (total.operating, total.with_cadre, total.visited) == (4, 3, 1)
    assert (total.cadre_rate, total.visit_rate) == (75.0, 25.0)
    assert [(c.name, c.operating, c.with_cadre, c.visited) for c in counties] == [
        ("任城区", 2, 2, 1),
        ("邹城市", 2, 1, 0),
    ]
    page = login_client(client, cadre).get(reverse("core:home")).content.decode()
    assert (
        'id="overdue-visits"' in page
        and "任城区殡仪馆" in page
        and "任城区古槐敬老院" not in page.split('id="overdue-visits"')[1].split("</table>")[0]
    )
    office_page = login_client(client, city_office).get(reverse("core:home")).content.decode()
    assert 'data-figure="cadre-rate">75.0%' in office_page
    assert 'data-figure="visit-rate">25.0%' in office_page


# --- recording -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_cadre_records_a_visit_with_photos(assigned: Any, cadre: User) -> None:
    visit = services.record_visit(
        fresh(cadre), assigned["rc_elderly"], visited_on=TODAY, checked="消防通道、用电", findings="灭火器过期",
        photos=[png(), png("b.png")],
    )  # fmt: skip
    assert visit.region_path == assigned["rc_elderly"].region_path
    assert list(visit.photos.values_list("content_type", flat=True)) == ["image/png", "image/png"]
    event = AuditEvent.objects.get(action="duty.visit")
    assert event.username == "cadre_a" and "photos=2" in event.detail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"visited_on": dt.date(2026, 11, 29)}, "将来"),
        ({"visited_on": dt.date(2026, 5, 31)}, "早于"),
        ({"checked": "  "}, "检查内容"),
        ({"photos": [SimpleUploadedFile("x.jpg", b"\xff\xd8\xff not really a jpeg")]}, "JPEG"),
        ({"photos": [png(f"{i}.png") for i in range(7)]}, "6"),
    ],
)
def test_bad_visits_are_refused_and_nothing_is_written(
    assigned: Any, cadre: User, kwargs: dict[str, Any], message: str
) -> None:
    values = {"visited_on": TODAY, "checked": "巡查", **kwargs}
    with pytest.raises(DomainError) as caught:
        services.record_visit(fresh(cadre), assigned["rc_elderly"], **values)
    assert message in caught.value.message
    assert DutyVisit.objects.count() == 0 and DutyVisitPhoto.objects.count() == 0
    assert not AuditEvent.objects.filter(action="duty.visit").exists()


@pytest.mark.django_db
def test_only_the_responsible_cadre_records_a_visit(
    assigned: Any, other_cadre: User, rencheng_officer: Any, client: Any
) -> None:
    for actor in (other_cadre, rencheng_officer):
        with pytest.raises(NotPermitted):
            services.record_visit(fresh(actor), assigned["rc_elderly"], visited_on=TODAY, checked="巡查")
    # Through the page: another cadre cannot even see the institution (404), nothing is written.
    url = reverse("duty:visit_new", args=[assigned["rc_elderly"].pk])
    response = login_client(client, other_cadre).post(url, {"visited_on": "2026-11-28", "checked": "巡查"})
    assert response.status_code == 404
    assert DutyVisit.objects.count() == 0


@pytest.mark.django_db
def test_visit_form_and_photo_access(assigned: Any, cadre: User, other_cadre: User, client: Any) -> None:
    home = assigned["rc_elderly"]
    c = login_client(client, cadre)
    response = c.post(
        reverse("duty:visit_new", args=[home.pk]),
        {"visited_on": "2026-11-27", "checked": "疏散通道", "findings": "", "photos": [png()]},
    )
    assert response.status_code == 302 and response["Location"] == reverse("duty:mine")
    photo = DutyVisitPhoto.objects.get()
    assert c.get(reverse("duty:visit_photo", args=[photo.pk]))["Content-Type"] == "image/png"
    # A future date comes back as a form error in Chinese; nothing added.
    response = c.post(reverse("duty:visit_new", args=[home.pk]), {"visited_on": "2026-12-01", "checked": "x"})
    assert response.status_code == 200 and "不能是将来" in response.content.decode()
    assert DutyVisit.objects.count() == 1
    other = login_client(client, other_cadre)
    assert other.get(reverse("duty:visit_photo", args=[photo.pk])).status_code == 404


@pytest.mark.django_db
def test_my_institutions_page(
    assigned: Any, cadre: User, client: Any, django_assert_max_num_queries: Any
) -> None:
    services.record_visit(
        fresh(cadre), assigned["rc_elderly"], visited_on=dt.date(2026, 11, 2), checked="巡查"
    )
    c = login_client(client, cadre)
    with django_assert_max_num_queries(16):
        page = c.get(reverse("duty:mine")).content.decode()
    assert 'data-figure="mine">2<' in page and 'data-figure="overdue">1<' in page
    assert "邹城市钢山养老中心" not in page
    assert "2026-12-02" in page  # next due for the visited one


@pytest.mark.django_db
def test_visit_api(assigned: Any, cadre: User, other_cadre: User) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fresh(cadre))
    body = {"institution": assigned["rc_elderly"].pk, "visited_on": "2026-11-20", "checked": "巡查"}
    created = api.post("/api/v1/duty-visits/", body, format="json")
    assert created.status_code == 201 and created.json()["cadre"] == cadre.pk
    bad = api.post("/api/v1/duty-visits/", {**body, "visited_on": "2026-12-20"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "visited_on"
    api.force_authenticate(fresh(other_cadre))
    assert api.post("/api/v1/duty-visits/", body, format="json").status_code == 404
    assert api.get("/api/v1/duty-visits/").json()["count"] == 0
    assert DutyVisit.objects.count() == 1
    assert timezone.localdate() == TODAY


@pytest.mark.django_db
def test_overdue_page_lists_every_overdue_visit_in_scope(
    assigned: Any, cadre: User, rencheng_officer: Any, client: Any
) -> None:
    page = login_client(client, rencheng_officer).get(reverse("duty:overdue")).content.decode()
    table = page.split('id="overdue-visits"')[1].split("</table>")[0]
    assert "任城区古槐敬老院" in table and "任城区殡仪馆" in table and "邹城市" not in table
    assert "2026-07-01" in table  # due one month after the assignment began


@pytest.mark.django_db
def test_assignments_and_visits_move_with_the_institution(
    assigned: Any, cadre: User, city_office: Any, tree: dict[str, Any], make_user: Any
) -> None:
    from minan.duty.models import DutyAssignment
    from minan.institutions.services import update_institution

    home = assigned["rc_elderly"]
    services.record_visit(fresh(cadre), home, visited_on=TODAY, checked="巡查")
    update_institution(city_office, home, region=tree["zc_town"])
    zc_officer = make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])
    assert DutyAssignment.objects.for_user(zc_officer).filter(institution=home).count() == 1
    assert DutyVisit.objects.for_user(zc_officer).filter(institution=home).count() == 1
    assert set(DutyVisit.objects.filter(institution=home).values_list("region_path", flat=True)) == {
        tree["zc_town"].region_path
    }


@pytest.mark.django_db
def test_my_institutions_shows_figures_other_modules_provide(
    assigned: Any, cadre: User, client: Any, monkeypatch: Any
) -> None:
    from minan.core import figures

    monkeypatch.setattr(figures, "_SOURCES", {})  # as if no hazard or alarm module were installed
    home = assigned["rc_elderly"]
    page = login_client(client, cadre).get(reverse("duty:mine")).content.decode()
    row = page.split(f'data-institution="{home.pk}"')[1].split("</tr>")[0]
    assert row.count('<span class="help">—</span>') == 2  # no hazard or alarm module yet: "—", not 0
    figures.register("open_hazards", lambda ids: {home.pk: 3})
    figures.register("open_alarms", lambda ids: {})
    page = login_client(client, cadre).get(reverse("duty:mine")).content.decode()
    row = page.split(f'data-institution="{home.pk}"')[1].split("</tr>")[0]
    assert "<td>3</td>" in row and "<td>0</td>" in row
