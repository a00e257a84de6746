"""User reads honour kind narrowing like every other scoped read."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import RoleGrant, User

pytestmark = pytest.mark.django_db


def test_kind_narrowed_lead_reads_only_users_of_its_kinds(
    client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    lead = make_user("elderly_lead", roles=["sector_lead"], region=tree["city"], kinds=("elderly_care",))
    elderly = make_user("staff_elderly", roles=["institution_staff"], institution=institutions["rc_elderly"])
    funeral = make_user("staff_funeral", roles=["institution_staff"], institution=institutions["rc_funeral"])
    child = make_user("staff_child", roles=["institution_staff"], institution=institutions["zc_child"])
    assert set(User.objects.for_user(lead).values_list("username", flat=True)) == {"staff_elderly"}
    login_client(client, lead)
    page = client.get(reverse("accounts:user_list")).content.decode()
    assert "staff_elderly" in page and "staff_funeral" not in page and "staff_child" not in page
    for user in (funeral, child):
        assert client.get(reverse("accounts:user_detail", args=[user.pk])).status_code == 404
    assert client.get(reverse("accounts:user_detail", args=[elderly.pk])).status_code == 200
    api = APIClient()
    api.force_authenticate(lead)
    assert [u["username"] for u in api.get("/api/v1/users/").json()["results"]] == ["staff_elderly"]
    assert api.get(f"/api/v1/users/{funeral.pk}/").status_code == 404
    assert RoleGrant.objects.filter(user=funeral).exists()  # the account exists; it is just not visible
