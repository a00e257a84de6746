"""A manager acts on a user only when the user's whole access (roles and every scope
entry, derived ones included) lies inside the manager's own; otherwise the user answers 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts import services
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.errors import NotPermitted, OutOfScope

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Temp#Pass2026"


def _state(user: User) -> tuple[Any, ...]:
    user.refresh_from_db()
    return (
        user.password,
        user.is_active,
        user.must_change_password,
        user.display_name,
        user.expires_at,
        sorted(user.role_grants.values_list("role", flat=True)),
        user.scopes.count(),
    )


def test_officer_cannot_reset_user_with_access_beyond_scope(
    client: Any, rencheng_officer: User, cross_inspector: User
) -> None:
    before = _state(cross_inspector)
    login_client(client, rencheng_officer)
    url = reverse("accounts:user_action", args=[cross_inspector.pk, "reset-password"])
    assert client.post(url, {"password": NEW_PASSWORD}).status_code == 404
    assert _state(cross_inspector) == before and not cross_inspector.check_password(NEW_PASSWORD)
    with pytest.raises(OutOfScope):
        services.reset_password(rencheng_officer, cross_inspector, NEW_PASSWORD)
    assert _state(cross_inspector) == before
    assert not AuditEvent.objects.filter(action="password.reset").exists()


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("disable", {"reason": "x"}),
        ("grant-role", {"role": "county_officer"}),
        ("add-scope", {"region": "__rc_town__"}),
        ("unlock", {}),
        ("reset-totp", {}),
    ],
)
def test_officer_cannot_act_on_user_with_access_beyond_scope(
    client: Any,
    make_user: Any,
    tree: dict[str, Any],
    cross_inspector: User,
    action: str,
    data: dict[str, Any],
) -> None:
    # A security administrator of 任城区 (it may grant any role, unlock, reset the authenticator) sees
    # the user, but not the 邹城市 institution its cross inspection reaches.
    manager = make_user("rc_sec", roles=["security_admin"], region=tree["rencheng"])
    before = _state(cross_inspector)
    login_client(client, manager)
    if data.get("region") == "__rc_town__":
        data = {"region": tree["rc_town"].pk}
    response = client.post(reverse("accounts:user_action", args=[cross_inspector.pk, action]), data)
    assert response.status_code == 404
    assert _state(cross_inspector) == before


def test_officer_cannot_edit_user_with_access_beyond_scope(
    client: Any, rencheng_officer: User, cross_inspector: User, tree: dict[str, Any]
) -> None:
    before = _state(cross_inspector)
    login_client(client, rencheng_officer)
    url = reverse("accounts:user_edit", args=[cross_inspector.pk])
    assert client.get(url).status_code == 404
    response = client.post(url, {"display_name": "taken over", "region": tree["rencheng"].pk})
    assert response.status_code == 404
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    assert (
        api.patch(f"/api/v1/users/{cross_inspector.pk}/", {"display_name": "x"}, format="json").status_code
        == 404
    )
    assert _state(cross_inspector) == before


def test_officer_cannot_manage_user_holding_role_it_cannot_grant(
    client: Any, rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    # All of its access lies inside 任城区, but its role (city safety office) is one the officer lacks.
    target = make_user("rc_city_role", roles=["city_safety_office"], region=tree["rencheng"])
    before = _state(target)
    login_client(client, rencheng_officer)
    url = reverse("accounts:user_action", args=[target.pk, "reset-password"])
    assert client.post(url, {"password": NEW_PASSWORD}).status_code == 404
    assert _state(target) == before
    assert not services.may_manage(rencheng_officer, target)


def test_kind_narrowed_manager_cannot_manage_user_with_every_kind(
    make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    lead = make_user("elderly_sec", roles=["security_admin"], region=tree["city"], kinds=("elderly_care",))
    home = institutions["rc_elderly"]
    # Both belong to an elderly-care home; one also sees every kind in 任城区, funeral homes included.
    wide = make_user("wide", institution=home, scopes=[home, tree["rencheng"]])
    narrow = make_user("narrow", institution=home, scopes=[home, tree["rencheng"]], kinds=("elderly_care",))
    assert not services.may_manage(lead, wide)
    assert services.may_manage(lead, narrow)
    with pytest.raises(OutOfScope):
        services.set_active(lead, wide, False, reason="x")
    wide.refresh_from_db()
    assert wide.is_active


def test_officer_still_manages_user_wholly_inside_scope(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    target = make_user("inside", roles=["county_officer"], region=tree["rencheng"])
    UserScope.objects.create(user=target, institution=institutions["rc_elderly"], source="inspection")
    services.reset_password(rencheng_officer, target, NEW_PASSWORD)
    target.refresh_from_db()
    assert target.check_password(NEW_PASSWORD) and target.must_change_password


def test_nobody_manages_own_account(rencheng_officer: User) -> None:
    with pytest.raises(NotPermitted) as refused:
        services.reset_password(rencheng_officer, rencheng_officer, NEW_PASSWORD)
    assert refused.value.code == "own_account"
    with pytest.raises(NotPermitted):
        services.grant_role(rencheng_officer, rencheng_officer, "county_officer")


def test_user_detail_hides_institutions_outside_viewer_scope(
    client: Any, rencheng_officer: User, cross_inspector: User
) -> None:
    login_client(client, rencheng_officer)
    response = client.get(reverse("accounts:user_detail", args=[cross_inspector.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "邹城市钢山养老中心" not in page
    assert "一家不在您范围内的机构" in page
    # No management controls for a user the viewer may not manage.
    assert "reset-password" not in page and "grant-role" not in page
