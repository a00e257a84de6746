"""The one scoping mechanism: a 任城区 county officer sees nothing of 邹城市, through UI or API."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts import services
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import NotPermitted, OutOfScope
from minan.institutions.models import Institution
from minan.regions.models import Region

pytestmark = pytest.mark.django_db


@pytest.fixture
def zoucheng_user(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])


def test_for_user_returns_only_rows_inside_the_scope(
    rencheng_officer: User, institutions: dict[str, Any]
) -> None:
    names = set(Institution.objects.for_user(rencheng_officer).values_list("name", flat=True))
    assert names == {"任城区古槐敬老院", "任城区殡仪馆"}
    codes = set(Region.objects.for_user(rencheng_officer).values_list("code", flat=True))
    assert codes == {"370811", "370811001"}


def test_kinds_narrow_a_region_scope(
    make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    lead = make_user("lead", roles=["sector_lead"], region=tree["city"], kinds=("elderly_care",))
    names = set(Institution.objects.for_user(lead).values_list("name", flat=True))
    assert names == {"任城区古槐敬老院", "邹城市钢山养老中心"}


def test_institution_scope_sees_only_that_institution(make_user: Any, institutions: dict[str, Any]) -> None:
    staff = make_user("staff", roles=["institution_staff"], institution=institutions["rc_elderly"])
    assert list(Institution.objects.for_user(staff)) == [institutions["rc_elderly"]]
    # Users of the institution only, not the whole county's directory (no view_user permission anyway).
    assert not User.objects.for_user(staff).exists()


def test_role_without_the_permission_sees_nothing(
    make_user: Any, tree: dict[str, Any], institutions: Any
) -> None:
    auditor = make_user("auditor2", roles=["audit_admin"], region=tree["city"])
    assert not Institution.objects.for_user(auditor).exists()
    assert Region.objects.for_user(auditor).count() == 5  # city and below


def test_inactive_user_sees_nothing(rencheng_officer: User, institutions: Any) -> None:
    rencheng_officer.is_active = False
    assert not Institution.objects.for_user(rencheng_officer).exists()


def test_county_officer_cannot_open_other_county_in_ui(
    client: Any,
    rencheng_officer: User,
    zoucheng_user: User,
    institutions: dict[str, Any],
    tree: dict[str, Any],
) -> None:
    login_client(client, rencheng_officer)
    zc = institutions["zc_elderly"]
    # Lists leave the other county out.
    page = client.get(reverse("institutions:list")).content.decode()
    assert "任城区古槐敬老院" in page and "邹城市" not in page
    page = client.get(reverse("accounts:user_list")).content.decode()
    assert "rc_officer" in page and "zc_officer" not in page
    # Details, edits and actions answer 404, exactly as for a missing object.
    assert client.get(reverse("institutions:detail", args=[zc.pk])).status_code == 404
    assert client.get(reverse("institutions:detail", args=[999999])).status_code == 404
    assert client.get(reverse("regions:detail", args=["370883"])).status_code == 404
    assert client.get(reverse("accounts:user_detail", args=[zoucheng_user.pk])).status_code == 404
    assert client.get(reverse("accounts:user_edit", args=[zoucheng_user.pk])).status_code == 404
    response = client.post(
        reverse("accounts:user_edit", args=[zoucheng_user.pk]),
        {"display_name": "hijacked", "region": tree["rencheng"].pk},
    )
    assert response.status_code == 404
    response = client.post(
        reverse("accounts:user_action", args=[zoucheng_user.pk, "disable"]), {"reason": "x"}
    )
    assert response.status_code == 404
    zoucheng_user.refresh_from_db()
    assert zoucheng_user.display_name == "zc_officer" and zoucheng_user.is_active
    # Filtering by the other county's code finds nothing either.
    page = client.get(reverse("institutions:list") + "?region=370883").content.decode()
    assert "邹城市" not in page


def test_county_officer_export_contains_only_own_county(
    client: Any, rencheng_officer: User, zoucheng_user: User
) -> None:
    login_client(client, rencheng_officer)
    response = client.get(reverse("accounts:user_export"))
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.content)).active
    usernames = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert usernames == ["rc_officer"]
    assert AuditEvent.objects.filter(action="export", username="rc_officer").count() == 1


def test_county_officer_cannot_reach_other_county_through_api(
    rencheng_officer: User, zoucheng_user: User, institutions: dict[str, Any], tree: dict[str, Any]
) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    listed = api.get("/api/v1/institutions/").json()
    assert {row["name"] for row in listed["results"]} == {"任城区古槐敬老院", "任城区殡仪馆"}
    assert api.get(f"/api/v1/institutions/{institutions['zc_elderly'].pk}/").status_code == 404
    assert api.get("/api/v1/regions/370883/").status_code == 404
    assert {row["code"] for row in api.get("/api/v1/regions/").json()["results"]} == {"370811", "370811001"}
    assert api.get(f"/api/v1/users/{zoucheng_user.pk}/").status_code == 404
    response = api.patch(f"/api/v1/users/{zoucheng_user.pk}/", {"display_name": "x"}, format="json")
    assert response.status_code == 404
    # Creating a user in the other county: the region code reads as unknown, nothing is created.
    response = api.post(
        "/api/v1/users/",
        {"username": "intruder", "display_name": "x", "region": "370883", "password": "Abcdef#12345"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "region" in response.json()["errors"]
    assert not User.objects.filter(username="intruder").exists()


def test_write_moving_object_out_of_scope_is_refused(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    # A role the officer may grant, so that the refusal is about the place (services.may_manage).
    colleague = make_user("rc_staff", roles=["county_officer"], region=tree["rencheng"])
    with pytest.raises(OutOfScope):
        services.update_user(rencheng_officer, colleague, region=tree["zoucheng"])
    colleague.refresh_from_db()
    assert colleague.region == tree["rencheng"] and colleague.region_path == "370000/370800/370811/"


def test_scope_grant_limited_to_own_scope(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    colleague = make_user("rc_inspector", roles=["county_officer"], region=tree["rencheng"])
    before = colleague.scopes.count()
    with pytest.raises(NotPermitted):
        services.add_scope(rencheng_officer, colleague, region=tree["zoucheng"])
    with pytest.raises(NotPermitted):
        services.add_scope(rencheng_officer, colleague, region=tree["city"])
    assert colleague.scopes.count() == before
    services.add_scope(rencheng_officer, colleague, region=tree["rc_town"])
    assert colleague.scopes.count() == before + 1


def test_role_grant_limited_to_roles_held(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    colleague = make_user("rc_new", region=tree["rencheng"])
    with pytest.raises(NotPermitted):
        services.grant_role(rencheng_officer, colleague, "city_safety_office")
    assert not colleague.role_grants.exists()
    assert AuditEvent.objects.filter(action="role.grant", result="denied", username="rc_officer").count() == 1
    services.grant_role(rencheng_officer, colleague, "county_officer")
    assert set(colleague.role_grants.values_list("role", flat=True)) == {"county_officer"}


def test_three_administrator_roles_stay_apart(make_user: Any, tree: dict[str, Any]) -> None:
    secadmin = make_user("sec", roles=["security_admin"], region=tree["city"])
    target = make_user("target", roles=["system_admin"], region=tree["city"])
    from minan.core.errors import DomainError

    with pytest.raises(DomainError) as info:
        services.grant_role(secadmin, target, "audit_admin")
    assert info.value.code == "separation_of_duties"
    assert set(target.role_grants.values_list("role", flat=True)) == {"system_admin"}


def test_permission_denial_is_403_and_audited(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    cadre = make_user("cadre1", roles=["cadre"], region=tree["rencheng"])
    login_client(client, cadre)
    assert client.get(reverse("audit:list")).status_code == 403
    assert client.get(reverse("accounts:user_list")).status_code == 403
    denied = AuditEvent.objects.filter(action="permission.denied", username="cadre1")
    assert denied.count() == 2
