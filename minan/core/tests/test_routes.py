"""Walk every URL pattern and API route: each must declare whether it serves scoped data, and every
scoped one must read through the scoping mechanism (ScopedViewMixin / ScopedViewSet). What each scoped
route serves to each role is checked by `test_permission_matrix`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from rest_framework.views import APIView

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


def test_unscoped_names_exist() -> None:
    for name in ("set_language", "schema", "swagger-ui"):
        reverse(name)


def method_names(callback: Any) -> set[str]:
    """The HTTP methods the view class dispatches at all (`http_method_names`); others answer 405."""
    return set(callback.initkwargs.get("http_method_names", view_class(callback).http_method_names))


def answered_methods(callback: Any) -> set[str]:
    """The methods an API route answers (not with 405): a viewset route's methods the router maps to a
    handler and the view dispatches; a plain view's own handlers."""
    if hasattr(callback, "actions"):
        found = set(callback.actions) & method_names(callback)
    else:
        found = {m.lower() for m in view_class(callback)(**callback.initkwargs).allowed_methods}
    return found - {"head", "options", "trace"}


@pytest.mark.django_db
def test_api_schema_lists_exactly_the_methods_each_route_answers(client: Any) -> None:
    """The served OpenAPI schema offers, per path, exactly the methods the route answers, and a viewset
    route maps no method its view then refuses with 405 (the router would offer it, the schema not)."""
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    assert len(schema["paths"]) > 50
    for path, operations in schema["paths"].items():
        callback = resolve(re.sub(r"\{[^}/]+\}", "1", path)).func
        listed = {m for m in operations if m in {"get", "post", "put", "patch", "delete"}}
        assert listed == answered_methods(callback), path
        refused = set(getattr(callback, "actions", {})) - method_names(callback)
        assert not refused, f"{path}: the router maps {sorted(refused)}, which the view answers with 405"
