"""Hostile input answers a structured 400 (413 for an oversized body), never a 500.

The tests walk every API route (as minan/core/tests/test_routes.py does) and send each one what the
outside probe sent: JSON nested thousands of levels deep to every POST/PUT/PATCH route, integers above
2**63 - 1 (and "²", a digit to `str.isdigit()` that `int()` refuses) to every query parameter a route
declares or the filters use, and such integers inside bodies — as a signed-in city safety office and
anonymously.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import override_settings
from django.urls import get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.parsers import FormParser as DRFFormParser
from rest_framework.test import APIClient

from conftest import login_client
from minan.core import limits
from minan.core.tests.test_routes import view_class, walk

HUGE = "99999999999999999999"
JUST_OVER = str(2**63)
DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000

# Names the filters of pages and API routes read as ids, besides those the schema declares.
FILTER_NAMES = {
    "institution", "cadre", "task", "plan", "template", "checklist", "region", "county", "user", "assignee",
    "channel", "device", "hazard", "inspection", "section", "star", "panel", "page", "id",
}  # fmt: skip


def api_routes() -> list[tuple[str, set[str], Any]]:
    """(path with {pk}, methods, view class) for every API route, format-suffix variants left out."""
    found = []
    for route, _name, callback in walk(get_resolver()):
        if not route.startswith("api/v1/") or "format" in route:
            continue
        cls = view_class(callback)
        actions = getattr(callback, "actions", None)
        methods = set(actions) if actions else {m for m in ("get", "post", "put", "patch") if hasattr(cls, m)}
        path = re.sub(r"\(\?P<pk>[^)]*\)", "{pk}", "/" + route)
        path = path.replace("^", "").replace("$", "").replace("\\", "")
        found.append((path, methods, cls))
    return found


ROUTES = api_routes()


def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _pk_for(cls: Any, user: Any) -> int:
    """An object of the route's model the user can see, so detail routes get past get_object()."""
    model = getattr(getattr(cls, "queryset", None), "model", None)
    manager = getattr(model, "objects", None)
    if manager is not None and hasattr(manager, "for_user"):
        row = manager.for_user(user).order_by("pk").first()
        if row is not None:
            return int(row.pk)
    return 1


def _client(user: Any | None) -> APIClient:
    api = APIClient(raise_request_exception=False)
    if user is not None:
        api.force_authenticate(user)
    return api


def _code(response: Any) -> str | None:
    try:
        return response.json().get("code")
    except (ValueError, AttributeError):
        return None


# --- the limits themselves -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        (JUST_OVER, None),
        (HUGE, None),
        ("²", None),
        ("١٢", None),
        ("", None),
        ("-", None),
        ("12a", None),
        ("007", 7),
    ],
)
def test_parse_int64(text: str, value: int | None) -> None:
    assert limits.parse_int64(text) == value


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * 32 + "]" * 32, False),
        ("[" * 33 + "]" * 33, True),
        ('{"a":' * 33 + "1" + "}" * 33, True),
        ("[[]" * 40 + "]" * 40, True),  # no run of openers, deep all the same
        (json.dumps({"a": "[" * 100, "b": '\\"[[[' * 50}), False),  # brackets inside strings do not count
        (json.dumps([[{"a": [1, {"b": "x"}]}]] * 10000), False),  # wide, shallow
    ],
)
def test_json_depth(text: str, deep: bool) -> None:
    assert limits.json_depth_exceeds(text, 32) is deep


def test_loads_refuses_with_codes() -> None:
    with pytest.raises(limits.BodyRefused) as deep:
        limits.loads(DEEP_ARRAY)
    assert (deep.value.code, deep.value.status) == ("body_too_deep", 400)
    with pytest.raises(limits.BodyRefused) as big:
        limits.loads('{"ids": [99999999999999999999]}')
    assert (big.value.code, big.value.status) == ("number_out_of_range", 400)
    with pytest.raises(limits.BodyRefused) as nan:
        limits.loads("[NaN]")
    assert nan.value.code == "parse_error"
    assert limits.loads('{"ids": [9223372036854775807, -1, 2.5], "s": "[[["}') == {
        "ids": [2**63 - 1, -1, 2.5],
        "s": "[[[",
    }


def test_every_api_view_parses_json_and_forms_within_the_limits() -> None:
    for path, _methods, cls in ROUTES:
        for parser in cls.parser_classes:
            if "json" in parser.media_type:
                assert issubclass(parser, limits.JSONParser), (path, parser)
            if issubclass(parser, DRFFormParser):
                assert issubclass(parser, limits.FormParser), (path, parser)


# --- deep JSON to every write route ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_deep_json_anonymous_token_and_ingest() -> None:
    api = _client(None)
    for url in ("/api/v1/auth/token/", "/api/v1/ingest/signals/"):
        for body in (DEEP_ARRAY, DEEP_OBJECT):
            response = api.post(url, body, content_type="application/json")
            assert response.status_code == 400, (url, response.status_code)
            assert _code(response) == "body_too_deep", (url, response.content[:200])


@pytest.mark.django_db
def test_deep_json_to_every_write_route(city_office: Any, institutions: dict[str, Any]) -> None:
    failures = []
    refused = 0
    for user in (city_office, None):
        api = _client(user)
        for path, methods, cls in ROUTES:
            url = path.replace("{pk}", str(_pk_for(cls, city_office)))
            for method in sorted(methods & {"post", "put", "patch"}):
                response = getattr(api, method)(url, DEEP_ARRAY, content_type="application/json")
                status = response.status_code
                # A view that never reads the body may refuse for its own reasons, always structured.
                if status >= 500 or (status == 400 and not _code(response)):
                    failures.append((method, url, bool(user), status, response.content[:120]))
                refused += _code(response) == "body_too_deep"
    assert not failures
    assert refused >= 20  # the body is refused wherever a view reads it


def test_deep_json_over_mqtt_is_a_refused_message_not_a_stuck_batch() -> None:
    """MQTT payloads: a RecursionError out of the batch's parse made ingest retry the batch for ever."""
    from minan.firewatch.ingest import mqtt

    topic = "minan/v1/devices/SN-1/signals"
    fire = json.dumps({"type": "alarm", "code": "fire", "message_id": "m1"}).encode()
    items, positions, errors = mqtt.parse_all([(topic, DEEP_ARRAY.encode()), (topic, fire)])
    assert errors == ["refused:payload", ""]
    assert positions == [1] and items[0].signal.code == "fire"


@pytest.mark.django_db
def test_deep_json_in_device_thresholds_is_a_form_error(city_office: Any) -> None:
    """The device form's and the device import's thresholds (JSON typed by a person) use the same decoder."""
    from minan.firewatch.devices.forms import DeviceForm
    from minan.firewatch.devices.services import sheets

    form = DeviceForm(data={"thresholds": DEEP_OBJECT}, user=city_office)
    assert not form.is_valid() and "thresholds" in form.errors
    with pytest.raises(sheets._CellError):
        sheets._thresholds(DEEP_OBJECT)


@override_settings(MINAN_API_MAX_JSON_BYTES=2048)
@pytest.mark.django_db
def test_oversized_json_is_413_before_it_is_decoded(city_office: Any) -> None:
    body = json.dumps({"username": "x", "password": "y" * 4000})
    response = _client(None).post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 413
    assert _code(response) == "body_too_large"
    small = _client(None).post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json")
    assert small.status_code in {400, 401}  # a refused login, not a refused body
    assert _code(small) != "body_too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
@pytest.mark.django_db
def test_oversized_form_body_is_413(city_office: Any) -> None:
    body = "ids=1&note=" + "y" * 12_000
    form = "application/x-www-form-urlencoded"
    response = _client(city_office).post("/api/v1/notifications/mark-read/", body, content_type=form)
    assert response.status_code == 413
    assert _code(response) == "body_too_large"
    anonymous = _client(None).post("/api/v1/auth/token/", body, content_type=form)
    assert anonymous.status_code == 413 and _code(anonymous) == "body_too_large"
    many = "&".join(f"f{i}=1" for i in range(1200))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
    response = _client(city_office).post("/api/v1/notifications/mark-read/", many, content_type=form)
    assert response.status_code == 400 and _code(response) == "too_many_fields"


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=3)
@pytest.mark.django_db
def test_too_many_files_is_a_structured_400(city_office: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(f"p{i}.jpg", b"x", content_type="image/jpeg") for i in range(5)]
    response = _client(city_office).post("/api/v1/hazards/", {"files": files}, format="multipart")
    assert response.status_code == 400 and _code(response) == "too_many_files"


# --- huge integers in query strings ----------------------------------------------------------------------------


def _declared_parameters(schema: dict[str, Any], path: str) -> set[str]:
    names = set()
    for operation in schema["paths"].get(path.replace("{pk}", "{id}"), {}).values():
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query":
                names.add(parameter["name"])
    return names


@pytest.mark.django_db
def test_huge_integers_in_every_query_parameter(city_office: Any, institutions: dict[str, Any]) -> None:
    schema = _schema()
    failures = []
    checked = 0
    for user in (city_office, None):
        api = _client(user)
        for path, methods, cls in ROUTES:
            if "get" not in methods:
                continue
            url = path.replace("{pk}", str(_pk_for(cls, city_office)))
            names = (_declared_parameters(schema, path) | FILTER_NAMES) - limits.TEXT_PARAMETERS
            for name in sorted(names):
                for value in (HUGE, JUST_OVER, "²"):
                    response = api.get(url, {name: value})
                    body = response.json() if response.status_code == 400 else {}
                    if (
                        response.status_code != 400
                        or body.get("code") != "invalid"
                        or body.get("field") != name
                    ):
                        failures.append((url, name, value, bool(user), response.status_code))
                    checked += 1
    assert not failures, failures[:20]
    assert checked > 500


@pytest.mark.django_db
def test_the_issue_filters_answer_400_and_in_range_ids_still_filter(
    city_office: Any, institutions: dict[str, Any]
) -> None:
    api = _client(city_office)
    for name in (
        "hazards",
        "devices",
        "alarms",
        "inspections",
        "inspection-tasks",
        "duty-assignments",
        "duty-visits",
    ):
        response = api.get(f"/api/v1/{name}/?institution={HUGE}")
        assert response.status_code == 400, name
        assert response.json()["code"] == "invalid" and response.json()["field"] == "institution"
    response = api.get(f"/api/v1/checklist-items/?checklist={HUGE}")
    assert response.status_code == 400 and response.json()["field"] == "checklist"
    ok = api.get(f"/api/v1/duty-assignments/?institution={institutions['rc_elderly'].pk}")
    assert ok.status_code == 200
    free_text = api.get(f"/api/v1/users/?q={HUGE}")  # a search box is not an id
    assert free_text.status_code == 200


@pytest.mark.django_db
def test_pages_answer_400_to_huge_integers(client: Any, city_office: Any) -> None:
    login_client(client, city_office)
    assert client.get(f"/hazards/?institution={HUGE}").status_code == 400
    assert client.get("/hazards/?institution=²").status_code == 400
    assert client.get("/hazards/?institution=1").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("value", [HUGE, JUST_OVER, "²"])
def test_page_forms_with_huge_ids_are_refused_not_crashed(
    client: Any, city_office: Any, institutions: dict[str, Any], value: str
) -> None:
    """The same ids in page forms: read as no id (the form's own error), nothing written."""
    from minan.duty.models import DutyAssignment

    login_client(client, city_office)
    response = client.post("/notify/read/", {"ids": [value]})
    assert response.status_code == 302  # back to the inbox with "Choose the notifications to mark read."
    response = client.post("/duty/", {"institutions": [value], "cadre": value})
    assert response.status_code == 302
    response = client.post("/duty/", {"institutions": [institutions["rc_elderly"].pk], "cadre": value})
    assert response.status_code == 302
    assert not DutyAssignment.objects.exists()
    response = client.post("/inspections/start/", {"task": value})
    assert response.status_code == 400  # the start form again, with its errors


# --- huge integers in bodies -----------------------------------------------------------------------------------


def _integer_properties(schema: dict[str, Any], path: str, method: str) -> dict[str, str]:
    """Top-level body properties that carry integers: name -> "int", "list" or "dict"."""
    components = schema["components"]["schemas"]
    operation = schema["paths"].get(path.replace("{pk}", "{id}"), {}).get(method, {})
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json") or content.get("multipart/form-data") or {}
    ref = body.get("schema", {}).get("$ref", "")
    properties = components.get(ref.split("/")[-1], {}).get("properties", {})
    found = {}
    for name, prop in properties.items():
        if prop.get("readOnly"):
            continue
        if prop.get("type") == "integer":
            found[name] = "int"
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "integer":
            found[name] = "list"
        elif prop.get("type") == "object" and prop.get("additionalProperties", {}).get("type") == "integer":
            found[name] = "dict"
    return found


@pytest.mark.django_db
def test_huge_integers_in_every_body(city_office: Any, institutions: dict[str, Any]) -> None:
    schema = _schema()
    api = _client(city_office)
    failures = []
    checked = 0
    for path, methods, cls in ROUTES:
        url = path.replace("{pk}", str(_pk_for(cls, city_office)))
        for method in sorted(methods & {"post", "put", "patch"}):
            for name, shape in _integer_properties(schema, path, method).items():
                for value in (HUGE, JUST_OVER):
                    as_number = {"int": value, "list": f"[{value}]", "dict": f'{{"1": {value}}}'}[shape]
                    literal = api.generic(
                        method.upper(), url, f'{{"{name}": {as_number}}}', content_type="application/json"
                    )
                    text = {"int": value, "list": [value], "dict": {"1": value}}[shape]
                    string = getattr(api, method)(url, {name: text}, format="json")
                    for response, expected in ((literal, "number_out_of_range"), (string, "invalid")):
                        status = response.status_code
                        if status >= 500 or (status == 400 and _code(response) != expected):
                            failures.append((method, url, name, value, status, response.content[:150]))
                    checked += 1
    assert not failures, failures[:20]
    assert checked >= 40


@pytest.mark.django_db
def test_the_issue_bodies_answer_400(city_office: Any) -> None:
    api = _client(city_office)
    response = api.post("/api/v1/notifications/mark-read/", {"ids": [HUGE]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and list(response.json()["errors"]) == ["ids"]
    response = api.post(
        "/api/v1/notifications/mark-read/", f'{{"ids": [{HUGE}]}}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "number_out_of_range"
    response = api.post("/api/v1/notifications/mark-read/", {"ids": [HUGE]}, format="multipart")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["ids"]
    plan = {"name": "月查", "template_code": "fire-monthly", "kind": "duty", "cadence": "monthly"}
    response = api.post("/api/v1/inspection-plans/", {**plan, "institutions": [HUGE]}, format="json")
    assert response.status_code in {400, 403}
    if response.status_code == 400:
        assert "institutions" in response.json()["errors"]
