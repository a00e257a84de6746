"""包保: exactly one active cadre per operating institution, history kept, scope follows assignments."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections
from django.urls import reverse

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, OutOfScope
from minan.duty import selectors, services
from minan.duty.models import DutyAssignment
from minan.institutions.models import Institution


@pytest.fixture
def cadres(make_user: Any, tree: dict[str, Any]) -> list[User]:
    # Cadres start with no scope of their own: they see what they are responsible for.
    return [
        make_user(f"cadre{i}", roles=["cadre"], region=tree["rencheng"], scopes=[tree["rc_town"]])
        for i in range(2)
    ]


@pytest.mark.django_db
def test_reassigning_ends_the_old_assignment(
    rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    home = institutions["rc_elderly"]
    services.assign_cadre(rencheng_officer, home, cadres[0])
    services.assign_cadre(rencheng_officer, home, cadres[1])
    rows = list(
        DutyAssignment.objects.filter(institution=home)
        .order_by("id")
        .values_list("cadre__username", "active")
    )
    assert rows == [("cadre0", False), ("cadre1", True)]
    assert DutyAssignment.objects.get(cadre=cadres[0]).ends_on is not None
    assert AuditEvent.objects.filter(action="duty.assign").count() == 2
    assert list(home.changes.filter(action="duty.assign").values_list("changes", flat=True))[0] == {
        "cadre": [cadres[0].pk, cadres[1].pk]
    }


@pytest.mark.django_db
def test_the_database_refuses_two_active_cadres(cadres: list[User], institutions: Any) -> None:
    home = institutions["rc_elderly"]
    DutyAssignment.objects.create(
        institution=home, cadre=cadres[0], starts_on="2026-01-01", region_path=home.region_path
    )
    with pytest.raises(IntegrityError):
        DutyAssignment.objects.create(
            institution=home, cadre=cadres[1], starts_on="2026-01-01", region_path=home.region_path
        )


@pytest.mark.django_db
def test_a_cadre_sees_only_their_own_institutions(
    rencheng_officer: Any, make_user: Any, tree: Any, institutions: Any
) -> None:
    cadre = make_user("solo", roles=["cadre"], region=tree["rencheng"], scopes=[institutions["rc_funeral"]])
    services.assign_cadre(rencheng_officer, institutions["rc_elderly"], cadre)
    assert set(
        Institution.objects.for_user(User.objects.get(pk=cadre.pk)).values_list("name", flat=True)
    ) == {
        "任城区古槐敬老院",
        "任城区殡仪馆",
    }
    other = make_user("other", roles=["cadre"], region=tree["rencheng"], scopes=[institutions["rc_funeral"]])
    services.assign_cadre(rencheng_officer, institutions["rc_elderly"], other)
    # The first cadre's duty scope went with the assignment; their own grant stays.
    assert list(
        Institution.objects.for_user(User.objects.get(pk=cadre.pk)).values_list("name", flat=True)
    ) == ["任城区殡仪馆"]


@pytest.mark.django_db
def test_disabled_cadre_leaves_the_institution_unassigned_the_same_day(
    rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    services.assign_cadre(rencheng_officer, institutions["rc_elderly"], cadres[0])
    assert set(selectors.unassigned(rencheng_officer).values_list("name", flat=True)) == {"任城区殡仪馆"}
    User.objects.filter(pk=cadres[0].pk).update(is_active=False)
    assert set(selectors.unassigned(rencheng_officer).values_list("name", flat=True)) == {
        "任城区殡仪馆",
        "任城区古槐敬老院",
    }


@pytest.mark.django_db
def test_refusals_change_nothing(
    rencheng_officer: Any, cadres: list[User], make_user: Any, tree: Any, institutions: Any
) -> None:
    with pytest.raises(OutOfScope):
        services.assign_cadre(rencheng_officer, institutions["zc_elderly"], cadres[0])
    not_a_cadre = make_user("plain", roles=["inspector"], region=tree["rencheng"])
    with pytest.raises(DomainError):
        services.assign_cadre(rencheng_officer, institutions["rc_elderly"], not_a_cadre)
    zc_cadre = make_user("zc_cadre", roles=["cadre"], region=tree["zoucheng"])
    with pytest.raises(DomainError):
        services.assign_cadre(rencheng_officer, institutions["rc_elderly"], zc_cadre)
    assert not DutyAssignment.objects.exists()


@pytest.mark.django_db
def test_assign_through_the_duty_tab(
    client: Any, rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    login_client(client, rencheng_officer)
    home = institutions["rc_elderly"]
    url = reverse("institutions:action", args=[home.pk, "assign-cadre"])
    assert client.post(url, {"cadre": cadres[0].pk}).status_code == 302
    page = client.get(reverse("institutions:detail", args=[home.pk]) + "?tab=duty").content.decode()
    assert "cadre0" in page and "当前" in page
    client.post(reverse("institutions:action", args=[home.pk, "end-duty"]), {"reason": ""})
    assert DutyAssignment.objects.filter(active=True).count() == 1
    client.post(reverse("institutions:action", args=[home.pk, "end-duty"]), {"reason": "调整包保"})
    assert DutyAssignment.objects.filter(active=True).count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real transactions need a server database")
def test_two_concurrent_reassignments_leave_exactly_one_active(
    rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    home = institutions["rc_elderly"]
    services.assign_cadre(rencheng_officer, home, cadres[0])
    third = User.objects.get(pk=cadres[1].pk)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def reassign(cadre: User) -> None:
        try:
            barrier.wait()
            services.assign_cadre(None, Institution.objects.get(pk=home.pk), cadre)
        except DomainError:
            pass  # the later one may find the cadre already responsible
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=reassign, args=(c,)) for c in (third, User.objects.get(pk=cadres[0].pk))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert DutyAssignment.objects.filter(institution=home, active=True).count() == 1


@pytest.mark.django_db
def test_coverage_page_and_api(
    client: Any, rencheng_officer: Any, city_office: Any, cadres: list[User], institutions: Any, settings: Any
) -> None:
    from rest_framework.test import APIClient

    services.assign_cadre(rencheng_officer, institutions["rc_elderly"], cadres[0])
    settings.CADRE_MAX_LOAD = 0  # every cadre with one institution is over the limit
    login_client(client, rencheng_officer)
    page = client.get(reverse("duty:coverage")).content.decode()
    assert 'data-figure="unassigned">1<' in page and 'data-figure="overloaded">1<' in page
    assert "任城区殡仪馆" in page and "邹城市" not in page
    login_client(client, city_office)
    page = client.get(reverse("duty:coverage")).content.decode()
    assert 'data-figure="unassigned">3<' in page and "50.0%" in page and "0.0%" in page
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    rows = api.get("/api/v1/duty-assignments/?active=1").json()["results"]
    assert [(r["institution"], r["cadre_name"]) for r in rows] == [(institutions["rc_elderly"].pk, "cadre0")]


@pytest.mark.django_db
def test_bulk_assignment_is_all_or_nothing(
    client: Any, rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    login_client(client, rencheng_officer)
    own = [institutions["rc_elderly"].pk, institutions["rc_funeral"].pk]
    response = client.post(reverse("duty:coverage"), {"institutions": own, "cadre": cadres[1].pk})
    assert response.status_code == 302
    assert set(DutyAssignment.objects.filter(active=True).values_list("institution_id", flat=True)) == set(
        own
    )
    # One institution of another county in the selection: nothing is assigned.
    response = client.post(
        reverse("duty:coverage"),
        {"institutions": [*own, institutions["zc_elderly"].pk], "cadre": cadres[0].pk},
    )
    assert set(DutyAssignment.objects.filter(active=True).values_list("cadre_id", flat=True)) == {
        cadres[1].pk
    }
