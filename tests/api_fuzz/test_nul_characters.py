"""NUL (0x00) characters, found by schemathesis on PostgreSQL.

PostgreSQL keeps no NUL in text (SQLite does), so a NUL in a query parameter used as a filter, a login
name or a code looked up by a related field was a 500 on PostgreSQL. Query parameters are refused for
every route; whatever else reaches the database with a NUL answers a structured 400.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DataError
from rest_framework.test import APIClient

from minan.core.api import exception_handler

pytestmark = pytest.mark.django_db


def test_a_nul_in_an_api_query_parameter_is_a_structured_400(city_office: Any) -> None:
    api = APIClient()
    api.force_authenticate(city_office)
    response = api.get("/api/v1/criteria-clauses/", {"set": "MCA\x002023"})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid", "set")
    assert "NUL" in body["detail"]


def test_a_nul_in_a_parameter_name_is_refused_too(city_office: Any) -> None:
    api = APIClient()
    api.force_authenticate(city_office)
    response = api.get("/api/v1/hazards/?st%00atus=open")
    assert response.status_code == 400
    assert response.json()["field"] == "status"


def test_a_nul_in_a_page_query_is_the_400_page(client: Any, city_office: Any) -> None:
    from conftest import login_client

    login_client(client, city_office)
    response = client.get("/hazards/", {"q": "消防\x00"})
    assert response.status_code == 400


def test_a_nul_refused_by_postgresql_is_a_structured_400_not_a_500() -> None:
    refused = DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    response = exception_handler(refused, {})
    assert response is not None and response.status_code == 400
    assert response.data["code"] == "invalid" and "NUL" in str(response.data["detail"])


def test_other_database_errors_still_propagate() -> None:
    assert exception_handler(DataError("value too long for type character varying(10)"), {}) is None


def test_a_nul_in_a_login_name_is_a_400(db: Any) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "city\x00office", "password": "x"}, format="multipart"
    )
    assert response.status_code == 400
