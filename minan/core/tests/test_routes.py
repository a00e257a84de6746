"""Walk every URL pattern and API route: each must declare whether it serves scoped data, and every
scoped one must read through the scoping mechanism (ScopedViewMixin / ScopedViewSet)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient
from rest_framework.views import APIView

from conftest import login_client
from minan.core.api import ScopedViewSet
from minan.core.views import ScopedViewMixin

# Pages that read only through scoped selectors (each has its own scope test).
SCOPED_BY_SELECTORS = {"core:home"}

# Routes that serve no scoped data, by URL name, with the reason.
UNSCOPED = {
    "set_language": "language switch",
    "schema": "OpenAPI schema (no data)",
    "swagger-ui": "API documentation page (no data)",
    "api-root": "DRF router index (links only)",
}


def walk(resolver: URLResolver, prefix: str = "") -> list[tuple[str, str, Any]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{entry.namespace}:" if entry.namespace else ""
            found += [
                (route, ns + name if name else "", cb)
                for route, name, cb in walk(entry, prefix + str(entry.pattern))
            ]
        elif isinstance(entry, URLPattern):
            found.append((prefix + str(entry.pattern), entry.name or "", entry.callback))
    return found


ROUTES = walk(get_resolver())


def view_class(callback: Any) -> Any:
    return getattr(callback, "view_class", None) or getattr(callback, "cls", None)


def test_there_are_routes_to_check() -> None:
    assert len(ROUTES) > 20


@pytest.mark.parametrize(("route", "name", "callback"), ROUTES, ids=[r[0] or "/" for r in ROUTES])
def test_route_declares_scoping(route: str, name: str, callback: Any) -> None:
    base_name = name.split(":")[-1]
    if base_name in UNSCOPED:
        return
    cls = view_class(callback)
    assert cls is not None, f"{route} is a function view; use a class that declares `scoped`"
    assert "scoped" in dir(cls), f"{route} ({cls.__name__}) does not declare whether it serves scoped data"
    if not cls.scoped:
        return
    if issubclass(cls, APIView):
        assert issubclass(cls, ScopedViewSet), f"{route}: scoped API view must use ScopedViewSet"
        assert cls.get_queryset is ScopedViewSet.get_queryset, f"{route}: get_queryset must not be overridden"
    elif name in SCOPED_BY_SELECTORS:
        pass
    else:
        assert issubclass(cls, ScopedViewMixin), f"{route}: scoped view must use ScopedViewMixin"
        if "get_queryset" in vars(cls):
            assert "super().get_queryset()" in _source(cls.get_queryset), (
                f"{route}: get_queryset must start from the scoped queryset"
            )


def _source(fn: Any) -> str:
    import inspect

    return inspect.getsource(fn)


def _detail_url(route: str, obj_pk: int, code: str) -> str | None:
    """Fill a route's parameters with the out-of-scope object, or None for routes with other params."""
    url = "/" + route
    url = re.sub(r"<int:pk>", str(obj_pk), url)
    url = re.sub(r"<str:code>", code, url)
    url = re.sub(r"<slug:action>", "disable", url)
    url = re.sub(r"<str:arg>", "1", url)
    url = re.sub(r"\(\?P<pk>[^)]*\)", str(obj_pk), url)
    url = re.sub(r"\(\?P<code>[^)]*\)", code, url)
    if "<" in url or "(?P" in url:
        return None
    return url.replace("^", "").replace("$", "").replace("\\.", ".").replace("\\", "")


@pytest.mark.django_db
def test_every_scoped_route_hides_the_other_county(
    client: Any, rencheng_officer: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    """For each route with a <pk> or <code>: the 邹城 object answers 404 (UI) / 404 (API); lists
    never mention 邹城."""
    other_user = make_user("zc_someone", roles=["county_officer"], region=tree["zoucheng"])
    login_client(client, rencheng_officer)
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    objects = {
        "institution": institutions["zc_elderly"].pk,
        "user": other_user.pk,
        "region": None,
        "auditevent": None,
    }
    checked = 0
    for route, _name, callback in ROUTES:
        cls = view_class(callback)
        if cls is None or not getattr(cls, "scoped", False):
            continue
        model = getattr(cls, "model", None) or getattr(getattr(cls, "queryset", None), "model", None)
        if model is None:
            continue
        pk = objects.get(model._meta.model_name)
        url = _detail_url(route, pk or 0, "370883")
        if url is None or ("<int:pk>" in route and pk is None):
            continue
        getter = api if route.startswith("api/") else client
        if "format" in url:
            continue
        response = getter.get(url)
        is_list = url.rstrip("/").split("/")[-1] not in {str(pk), "370883"} and "<" not in route
        if is_list:
            # 405: a POST-only collection action (e.g. a draw); it takes no object, so nothing can leak.
            assert response.status_code in {200, 403, 405}, (url, response.status_code)
            if response.status_code == 200 and response.get("Content-Type", "").startswith(
                ("text/html", "application/json")
            ):
                assert "邹城" not in response.content.decode(), url
        else:
            assert response.status_code in {404, 405, 403}, (url, response.status_code)
            if response.status_code == 405:
                response = getter.post(url, {})
                assert response.status_code in {404, 403}, (url, response.status_code)
        checked += 1
    assert checked >= 10


def test_unscoped_names_exist() -> None:
    for name in ("set_language", "schema", "swagger-ui"):
        reverse(name)
