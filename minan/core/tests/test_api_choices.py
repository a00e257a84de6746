"""The API's choice lists come from the scoping mechanism.

Every writable related field of every serializer is a scoped field (minan/core/api_fields.py): its rows
are `for_user()` rows, so the browsable API's drop-downs, and the ids a write accepts, never include
another place's institutions, people, regions or channels. The browsable renderer itself is off outside
development with DEBUG on unless MINAN_API_BROWSABLE turns it on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

import minan.api_urls
from minan.core.api_fields import ScopedRelatedMixin, related_fields

ROOT = Path(__file__).resolve().parents[3]


def _subclasses(cls: Any) -> list[Any]:
    found: list[Any] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def project_serializers() -> list[type[serializers.BaseSerializer]]:
    """Every serializer class of the project, those of the router's viewsets and every other one."""
    assert minan.api_urls.router.registry  # the API modules are imported
    found = {cls for cls in _subclasses(serializers.BaseSerializer) if cls.__module__.startswith("minan.")}
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


SERIALIZERS = project_serializers()


@pytest.fixture
def two_counties(make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]) -> dict[str, Any]:
    """A safety office with the scope of 任城 (it may assign cadres and edit duty posts), and 邹城 rows of
    every related kind: institutions, people, a channel."""
    from minan.notify.models import Channel

    zc_person = make_user("zc_person", roles=["county_officer"], region=tree["zoucheng"])
    channel = Channel.objects.create(
        name="邹城通道", kind="webhook", url="https://example.com/hook", region_path=tree["zoucheng"].region_path,
    )  # fmt: skip
    viewer = make_user("rc_office", roles=["city_safety_office"], region=tree["rencheng"])
    return {"viewer": viewer, "zc_person": zc_person, "zc_channel": channel}


def test_there_are_serializers_to_check() -> None:
    names = {cls.__name__ for cls in SERIALIZERS}
    assert {"DutyAssignmentSerializer", "UserWriteSerializer", "SupervisionGroupWriteSerializer"} <= names


@pytest.mark.django_db
def test_every_related_field_reads_through_the_scope(
    two_counties: dict[str, Any], institutions: dict[str, Any], tree: dict[str, Any]
) -> None:
    """Walk every serializer: each writable related field is scoped and shows no 邹城 row to 任城."""
    viewer = two_counties["viewer"]
    request = APIRequestFactory().get("/")
    request.user = viewer
    foreign = {
        "institution": {institutions["zc_elderly"].pk, institutions["zc_child"].pk},
        "user": {two_counties["zc_person"].pk},
        "region": {tree["zoucheng"].pk, tree["zc_town"].pk},
        "channel": {two_counties["zc_channel"].pk},
    }
    checked = 0
    for serializer_class in SERIALIZERS:
        try:
            fields = related_fields(serializer_class(context={"request": request}))
        except (TypeError, AssertionError):  # needs arguments, or an abstract base without Meta
            continue
        for name, field in fields:
            where = f"{serializer_class.__module__}.{serializer_class.__qualname__}.{name}"
            assert isinstance(field, ScopedRelatedMixin), f"{where}: use a scoped field (core/api_fields.py)"
            queryset = field.get_queryset()
            model = queryset.model
            checked += 1
            if field.reference:
                assert not hasattr(model.objects, "for_user"), f"{where}: {model.__name__} is scoped data"
                continue
            shown = set(queryset.values_list("pk", flat=True))
            allowed = set(model.objects.for_user(viewer, field.scope_action).values_list("pk", flat=True))
            assert shown <= allowed, where
            assert not shown & foreign.get(model._meta.model_name, set()), where
            # Without a request in the context nothing is accepted.
            bare = dict(related_fields(serializer_class()))[name]
            assert not bare.get_queryset().exists(), where  # type: ignore[union-attr]
    assert checked >= 15


def _browsable(viewset: Any, user: Any, path: str) -> str:
    actions = {"get": "list", **({"post": "create"} if hasattr(viewset, "create") else {})}
    view = viewset.as_view(actions, renderer_classes=[BrowsableAPIRenderer, JSONRenderer])
    request = APIRequestFactory().get(path, HTTP_ACCEPT="text/html")
    force_authenticate(request, user)
    response = view(request)
    response.render()
    return str(response.content.decode())


@pytest.mark.django_db
def test_browsable_duty_assignment_form_lists_only_rows_in_scope(
    two_counties: dict[str, Any], institutions: dict[str, Any]
) -> None:
    from minan.duty.api import DutyAssignmentViewSet

    page = _browsable(DutyAssignmentViewSet, two_counties["viewer"], "/api/v1/duty-assignments/")
    assert "<form" in page and "<select" in page  # the form with its drop-downs is there
    assert institutions["rc_elderly"].name in page
    assert "rc_office" in page  # a cadre of 任城
    assert "邹城" not in page
    assert "zc_person" not in page


@pytest.mark.django_db
def test_no_browsable_form_of_any_router_list_shows_another_county(two_counties: dict[str, Any]) -> None:
    from rest_framework.viewsets import ViewSetMixin

    checked = 0
    for prefix, viewset, _basename in minan.api_urls.router.registry:
        if not issubclass(viewset, ViewSetMixin) or not hasattr(viewset, "list"):
            continue
        page = _browsable(viewset, two_counties["viewer"], f"/api/v1/{prefix}/")
        assert "邹城" not in page, prefix
        assert "zc_person" not in page, prefix
        checked += 1
    assert checked >= 20


@pytest.mark.django_db
def test_a_write_naming_a_foreign_row_is_refused_like_a_missing_one(
    two_counties: dict[str, Any], tree: dict[str, Any], make_user: Any
) -> None:
    """The field refuses another county's person with the same answer as an id that does not exist."""
    from minan.duty.models import DutyPost

    api = APIClient()
    api.force_authenticate(two_counties["viewer"])
    zc_pk = two_counties["zc_person"].pk
    body = {"code": "rc-post", "name": "岗位", "items": [{"text": "巡查"}]}
    foreign = api.post("/api/v1/duty-posts/", {**body, "holders": [zc_pk]}, format="json")
    missing = api.post("/api/v1/duty-posts/", {**body, "holders": [987654]}, format="json")
    assert foreign.status_code == missing.status_code == 400, (foreign.content, missing.content)
    assert foreign.json()["code"] == "invalid" and list(foreign.json()["errors"]) == ["holders"]
    assert str(foreign.json()).replace(str(zc_pk), "N") == str(missing.json()).replace("987654", "N")
    assert not DutyPost.objects.filter(code="rc-post").exists()


@pytest.mark.django_db
def test_browsable_api_is_off_in_tests_and_answers_json(city_office: Any) -> None:
    api = APIClient()
    api.force_authenticate(city_office)
    assert api.get("/api/v1/duty-assignments/?format=api").status_code == 404
    response = api.get("/api/v1/duty-assignments/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406 or response["Content-Type"].startswith("application/json")


def _renderers(**env: str) -> str:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("MINAN_") and k not in {"SECRET_KEY", "DEBUG"}
    }
    code = "import minan.settings as s; print(s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_browsable_renderer_only_in_development_unless_enabled(tmp_path: Path) -> None:
    production = {
        "MINAN_ENV": "production",
        "SECRET_KEY": "Zq8#vL2@pX9!mW4$rT7^yU1&iO5*aS3(dF6)gH0_jK" * 2,
        "MINAN_AUDIT_KEY": "a" * 48,
        "ALLOWED_HOSTS": "minan.example.gov.cn",
        "MINAN_VAR_DIR": str(tmp_path),
    }
    assert "BrowsableAPIRenderer" in _renderers(MINAN_ENV="development")
    # `minan serve` and `make demo` run development with DEBUG off: JSON only, like production.
    assert "BrowsableAPIRenderer" not in _renderers(MINAN_ENV="development", DEBUG="0")
    assert "BrowsableAPIRenderer" not in _renderers(MINAN_ENV="development", MINAN_API_BROWSABLE="0")
    assert "BrowsableAPIRenderer" not in _renderers(MINAN_ENV="test")
    assert "BrowsableAPIRenderer" not in _renderers(**production)
    assert "BrowsableAPIRenderer" in _renderers(**production, MINAN_API_BROWSABLE="1")
