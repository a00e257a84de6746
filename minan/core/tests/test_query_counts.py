"""List pages and API lists run a fixed number of queries, whatever the number of rows (no N+1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import login_client
from minan.institutions.models import Institution

pytestmark = pytest.mark.django_db

PAGES = ["/", "/institutions/", "/regions/", "/accounts/users/", "/accounts/users/export.xlsx"]
API = ["/api/v1/institutions/", "/api/v1/regions/", "/api/v1/users/"]


def add_rows(n: int, make_user: Any, tree: dict[str, Any], start: int) -> None:
    for i in range(start, start + n):
        Institution.objects.create(
            name=f"机构{i}",
            kind="elderly_care",
            region=tree["rc_town"],
            region_path=tree["rc_town"].region_path,
        )
        make_user(f"u{i}", roles=["inspector", "expert"], region=tree["rencheng"])


def count(fetch: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_counts_do_not_grow_with_rows(
    client: Any, city_office: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    add_rows(2, make_user, tree, 0)
    login_client(client, city_office)

    def api_get(url: str) -> Any:
        # A fresh user object per request, as in a real request (roles and scope are cached on it).
        api = APIClient()
        api.force_authenticate(type(city_office).objects.get(pk=city_office.pk))
        return api.get(url)

    few = {url: count(lambda url=url: client.get(url)) for url in PAGES}
    few.update({url: count(lambda url=url: api_get(url)) for url in API})
    add_rows(12, make_user, tree, 100)
    many = {url: count(lambda url=url: client.get(url)) for url in PAGES}
    many.update({url: count(lambda url=url: api_get(url)) for url in API})
    assert many == few
    assert max(few.values()) <= 21, few  # every page includes the header's unread-notification count


def test_audit_list_query_count(client: Any, audit_admin: Any) -> None:
    from minan.core.audit.services import record

    login_client(client, audit_admin)
    for i in range(3):
        record("test.event", object_type="accounts.user", object_id=i)
    few = count(lambda: client.get("/audit/"))
    for i in range(30):
        record("test.event", object_type="accounts.user", object_id=i)
    assert count(lambda: client.get("/audit/")) == few <= 12
