"""Shared fixtures: a small Jining tree, institutions in two counties, and users per role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

PASSWORD = "Minan@Test2026"


@pytest.fixture(autouse=True)
def _default_language() -> Any:
    # A request in an earlier test (e.g. the language switch) leaves its language active in the thread.
    from django.utils import translation

    translation.activate("zh-hans")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache() -> Any:
    # Throttles (20 token requests a minute per address), the public pages' rate limit and scan counters
    # live in the cache: an earlier test's requests must not count against this one.
    # Only in-process caches: clearing the Redis one would flush Huey's queue in the same database.
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    for cache in caches.all(initialized_only=True):
        if isinstance(cache, LocMemCache):
            cache.clear()
    yield


@pytest.fixture
def tree(db: Any) -> dict[str, Any]:
    from minan.regions.models import Region

    def make(code: str, name: str, level: str, parent: Region | None, statutory: bool = True) -> Region:
        path = (parent.region_path if parent else "") + code + "/"
        return Region.objects.create(
            code=code, name=name, level=level, parent=parent, region_path=path, statutory=statutory
        )

    sd = make("370000", "山东省", "province", None)
    jn = make("370800", "济宁市", "city", sd)
    rc = make("370811", "任城区", "county", jn)
    zc = make("370883", "邹城市", "county", jn)
    rc_town = make("370811001", "古槐街道", "township", rc)
    zc_town = make("370883001", "钢山街道", "township", zc)
    return {
        "province": sd,
        "city": jn,
        "rencheng": rc,
        "zoucheng": zc,
        "rc_town": rc_town,
        "zc_town": zc_town,
    }


@pytest.fixture
def institutions(tree: dict[str, Any]) -> dict[str, Any]:
    from minan.institutions.models import Institution

    def make(name: str, kind: str, region: Any) -> Institution:
        return Institution.objects.create(name=name, kind=kind, region=region, region_path=region.region_path)

    return {
        "rc_elderly": make("任城区古槐敬老院", "elderly_care", tree["rc_town"]),
        "rc_funeral": make("任城区殡仪馆", "funeral", tree["rencheng"]),
        "zc_elderly": make("邹城市钢山养老中心", "elderly_care", tree["zc_town"]),
        "zc_child": make("邹城市儿童福利院", "child_welfare", tree["zoucheng"]),
    }


@pytest.fixture
def make_user(db: Any, tree: dict[str, Any]) -> Callable[..., Any]:
    """make_user("name", roles=[...], region=..., scopes=[region or institution, ...], kinds=[...])."""
    from minan.accounts import services

    def make(
        username: str,
        *,
        roles: tuple[str, ...] | list[str] = (),
        region: Any = None,
        scopes: tuple[Any, ...] | list[Any] = (),
        kinds: tuple[str, ...] = (),
        institution: Any = None,
        must_change_password: bool = False,
    ) -> Any:
        from minan.institutions.models import Institution

        home = region or (institution.region if institution else tree["city"])
        user = services.create_user(
            None,
            username=username,
            display_name=username,
            password=PASSWORD,
            region=home,
            institution=institution,
            must_change_password=must_change_password,
        )
        for role in roles:
            services.grant_role(None, user, role)
        for place in scopes or ([institution] if institution else [home]):
            if isinstance(place, Institution):
                services.add_scope(None, user, institution=place)
            else:
                services.add_scope(None, user, region=place, kinds=kinds)
        user.refresh_from_db()
        return user

    return make


@pytest.fixture
def rencheng_officer(make_user: Callable[..., Any], tree: dict[str, Any]) -> Any:
    return make_user("rc_officer", roles=["county_officer"], region=tree["rencheng"])


@pytest.fixture
def city_office(make_user: Callable[..., Any], tree: dict[str, Any]) -> Any:
    return make_user("city_office", roles=["city_safety_office"], region=tree["city"])


@pytest.fixture
def audit_admin(make_user: Callable[..., Any], tree: dict[str, Any]) -> Any:
    return make_user("auditor", roles=["audit_admin"], region=tree["city"])


def login_client(client: Any, user: Any) -> Any:
    """A test client signed in as `user`, second factor marked verified (for admin roles)."""
    client.force_login(user)
    if user.needs_second_factor:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test", confirmed=True
        )
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client
