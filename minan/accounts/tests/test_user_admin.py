"""Account administration through the UI and the API: good input works, bad input writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import RoleGrant, User, UserScope
from minan.core.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def create_form(tree: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "username": "newcomer",
        "display_name": "新同事",
        "phone": "13812345678",
        "email": "",
        "region": tree["rc_town"].pk,
        "password": "Jining#2026ok",
    }
    data.update(overrides)
    return data


def test_county_officer_creates_account_in_own_county(client: Any, rencheng_officer: User, tree: Any) -> None:
    login_client(client, rencheng_officer)
    response = client.post(reverse("accounts:user_create"), create_form(tree))
    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    assert user.region_path == "370000/370800/370811/370811001/" and user.must_change_password
    event = AuditEvent.objects.get(action="user.create", object_id=str(user.pk))
    assert event.username == "rc_officer" and event.changes["phone"] == [None, "138****5678"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"display_name": "很" * 51}, "50"),
        ({"username": "a b"}, "3"),
        ({"phone": "12345"}, "11"),
        ({"password": "short"}, "8"),
        ({"region": 999999}, ""),
    ],
)
def test_bad_account_input_writes_nothing(
    client: Any, rencheng_officer: User, tree: Any, overrides: dict[str, Any], message: str
) -> None:
    login_client(client, rencheng_officer)
    users, events = User.objects.count(), AuditEvent.objects.filter(action="user.create").count()
    response = client.post(reverse("accounts:user_create"), create_form(tree, **overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert User.objects.count() == users
    assert AuditEvent.objects.filter(action="user.create").count() == events


def test_other_county_region_is_not_a_choice(client: Any, rencheng_officer: User, tree: Any) -> None:
    login_client(client, rencheng_officer)
    response = client.post(reverse("accounts:user_create"), create_form(tree, region=tree["zoucheng"].pk))
    assert response.status_code == 400 and not User.objects.filter(username="newcomer").exists()
    page = client.get(reverse("accounts:user_create")).content.decode()
    assert "邹城市" not in page and "任城区" in page


def test_duplicate_username_is_refused(client: Any, rencheng_officer: User, tree: Any) -> None:
    login_client(client, rencheng_officer)
    response = client.post(reverse("accounts:user_create"), create_form(tree, username="RC_OFFICER"))
    assert response.status_code == 400 and "RC_OFFICER" in response.content.decode()


def test_grant_role_and_scope_from_detail_page(
    client: Any, rencheng_officer: User, make_user: Any, tree: Any
) -> None:
    colleague = make_user("colleague", region=tree["rencheng"], scopes=[tree["rc_town"]])
    login_client(client, rencheng_officer)
    url = reverse("accounts:user_action", args=[colleague.pk, "grant-role"])
    assert client.post(url, {"role": "county_officer"}).status_code == 302
    assert client.post(url, {"role": "system_admin"}).status_code == 302  # refused with a message
    assert set(RoleGrant.objects.filter(user=colleague).values_list("role", flat=True)) == {"county_officer"}
    url = reverse("accounts:user_action", args=[colleague.pk, "add-scope"])
    response = client.post(url, {"region": tree["zoucheng"].pk}, follow=True)
    assert UserScope.objects.filter(user=colleague).count() == 1
    assert response.status_code == 200
    detail = client.get(reverse("accounts:user_detail", args=[colleague.pk])).content.decode()
    assert "县级民政干部" in detail


def test_disable_and_reset_password(client: Any, rencheng_officer: User, make_user: Any, tree: Any) -> None:
    colleague = make_user("leaver", region=tree["rencheng"])
    login_client(client, rencheng_officer)
    client.post(reverse("accounts:user_action", args=[colleague.pk, "disable"]), {"reason": "调离"})
    colleague.refresh_from_db()
    assert not colleague.is_active and colleague.disabled_reason == "调离"
    client.post(reverse("accounts:user_action", args=[colleague.pk, "reset-password"]), {"password": "weak"})
    colleague.refresh_from_db()
    assert not colleague.must_change_password  # weak password refused, nothing changed
    client.post(
        reverse("accounts:user_action", args=[colleague.pk, "reset-password"]), {"password": "Temp#Pass2026"}
    )
    colleague.refresh_from_db()
    assert colleague.must_change_password and colleague.check_password("Temp#Pass2026")


def test_api_structured_errors_for_bad_input(rencheng_officer: User) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    response = api.post(
        "/api/v1/users/",
        {"username": "x" * 200, "display_name": "很" * 60, "region": "37081", "password": "Abc#12345678"},
        format="json",
    )
    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid"
    assert set(body["errors"]) == {"username", "display_name", "region"}
    weak = api.post(
        "/api/v1/users/",
        {"username": "weakling", "display_name": "弱", "region": "370811", "password": "12345678"},
        format="json",
    )
    assert (
        weak.status_code == 400
        and weak.json()["code"] == "weak_password"
        and weak.json()["field"] == "password"
    )
    assert not User.objects.filter(username__in=["weakling"]).exists()


def test_api_create_in_own_county(rencheng_officer: User) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    response = api.post(
        "/api/v1/users/",
        {
            "username": "apiuser",
            "display_name": "接口用户",
            "region": "370811",
            "password": "Abc#12345678",
            "phone": "13900001234",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["phone"] == "139****1234" and response.json()["region"] == "370811"


def test_api_changes_an_account_with_patch_and_offers_no_put(
    client: Any, rencheng_officer: User, make_user: Any, tree: Any
) -> None:
    colleague = make_user("colleague", region=tree["rc_town"])
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    url = f"/api/v1/users/{colleague.pk}/"
    full = {"username": "colleague", "display_name": "全量", "region": "370811001", "phone": "", "email": ""}
    put = api.put(url, full, format="json")
    assert put.status_code == 405 and put["Allow"] == "GET, PATCH, HEAD, OPTIONS"
    colleague.refresh_from_db()
    assert colleague.display_name != "全量"
    patched = api.patch(url, {"display_name": "新名字"}, format="json")
    assert patched.status_code == 200 and patched.json()["display_name"] == "新名字"
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    operations = schema["paths"]["/api/v1/users/{id}/"]
    assert {m for m in operations if m != "parameters"} == {"get", "patch"}


def test_openapi_schema_is_valid(client: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/v1/regions/" in out.getvalue() and "/api/v1/auth/token/" in out.getvalue()


def test_security_admin_unlocks_a_locked_account(client: Any, make_user: Any, tree: Any) -> None:
    from conftest import PASSWORD

    make_user("locked", region=tree["rencheng"])
    for _i in range(5):
        client.post("/accounts/login/", {"username": "locked", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    assert (
        client.post(
            "/accounts/login/", {"username": "locked", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2"
        ).status_code
        == 403
    )
    secadmin = make_user("secadmin", roles=["security_admin"], region=tree["city"])
    admin_client = login_client(type(client)(), secadmin)
    target = User.objects.get(username="locked")
    admin_client.post(reverse("accounts:user_action", args=[target.pk, "unlock"]))
    assert AuditEvent.objects.filter(action="user.unlock", username="secadmin").count() == 1
    assert (
        client.post(
            "/accounts/login/", {"username": "locked", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2"
        ).status_code
        == 302
    )


def test_unlock_needs_the_permission(client: Any, rencheng_officer: User, make_user: Any, tree: Any) -> None:
    target = make_user("someone", region=tree["rencheng"])
    login_client(client, rencheng_officer)
    client.post(reverse("accounts:user_action", args=[target.pk, "reset-totp"]))
    assert not AuditEvent.objects.filter(action="totp.reset").exists()
