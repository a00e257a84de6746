"""The region page counts the institutions inside it by kind, through the panel the institutions app
registers (regions itself knows nothing of institutions)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from conftest import login_client
from minan.institutions.models import Institution

pytestmark = pytest.mark.django_db

ELDERLY, CHILD, FUNERAL = (
    str(Institution.Kind(k).label) for k in ("elderly_care", "child_welfare", "funeral")
)


def test_the_city_page_counts_every_kind_by_its_label(
    city_office: Any, institutions: Any, client: Any
) -> None:
    response = login_client(client, city_office).get(reverse("regions:detail", args=["370800"]))
    assert response.context["institutions_by_kind"] == [(ELDERLY, 2), (CHILD, 1), (FUNERAL, 1)]
    body = response.content.decode()
    assert f"{ELDERLY}: 2" in body and "elderly_care" not in body


def test_a_county_officer_counts_only_inside_the_scope(
    rencheng_officer: Any, institutions: Any, client: Any
) -> None:
    page = login_client(client, rencheng_officer).get(reverse("regions:detail", args=["370811"]))
    assert page.context["institutions_by_kind"] == [(ELDERLY, 1), (FUNERAL, 1)]
    # A county the officer may not see is not found at all.
    assert client.get(reverse("regions:detail", args=["370883"])).status_code == 404


def test_a_role_without_the_institution_permission_sees_no_count(
    audit_admin: Any, institutions: Any, client: Any
) -> None:
    page = login_client(client, audit_admin).get(reverse("regions:detail", args=["370800"]))
    assert page.status_code == 200
    assert "institutions_by_kind" not in page.context
    assert "institutions/_region_institutions.html" not in [t.name for t in page.templates]
