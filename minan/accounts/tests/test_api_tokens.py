"""API tokens are hashed, expire, stop with the account's controls, and are listed and
revoked by their owner and by security administrators; account controls are never self-editable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import PASSWORD, login_client
from minan.accounts import services
from minan.accounts.models import ApiToken, User
from minan.core.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
NEW_PASSWORD = "Temp#Pass2026"


def _token(username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _me(secret: str) -> Any:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return api.get("/api/v1/me/")


def _works(secret: str) -> bool:
    """True when the token authenticates; a refused token is a 403 with the code authentication_failed."""
    response = _me(secret)
    if response.status_code == 200:
        return True
    assert response.status_code == 403 and response.json()["code"] == "authentication_failed"
    return False


def test_token_carries_expiry_and_is_stored_hashed(rencheng_officer: User) -> None:
    body = _token("rc_officer")
    token = ApiToken.objects.get(pk=body["id"])
    assert body["token"] not in {token.digest, token.prefix} and len(token.digest) == 64
    assert not ApiToken.objects.filter(digest=body["token"]).exists()
    expected = timezone.now() + timedelta(days=settings.API_TOKEN_DAYS)
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert _works(body["token"])
    token.refresh_from_db()
    assert token.last_used_at is not None
    with time_machine.travel(token.expires_at + timedelta(seconds=1)):
        assert not _works(body["token"])


def test_token_days_setting(rencheng_officer: User, settings: Any) -> None:
    settings.API_TOKEN_DAYS = 7
    token = ApiToken.objects.get(pk=_token("rc_officer")["id"])
    assert timedelta(days=6, hours=23) < token.expires_at - token.created_at <= timedelta(days=7)


def test_token_stops_when_account_disabled(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    colleague = make_user("colleague", roles=["county_officer"], region=tree["rencheng"])
    secret = _token("colleague")["token"]
    assert _works(secret)
    services.set_active(rencheng_officer, colleague, False, reason="left")
    assert not _works(secret)
    # Enabling the account again does not revive the old token.
    services.set_active(rencheng_officer, colleague, True)
    assert not _works(secret)
    assert ApiToken.objects.get(user=colleague).revoked_at is not None


def test_token_stops_when_account_expires(make_user: Any, tree: dict[str, Any]) -> None:
    user = make_user("temp", roles=["inspector"], region=tree["rencheng"])
    User.objects.filter(pk=user.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    secret = _token("temp")["token"]
    assert _works(secret)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert not _works(secret)


def test_token_stops_after_admin_password_reset(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    colleague = make_user("colleague", roles=["county_officer"], region=tree["rencheng"])
    secret = _token("colleague")["token"]
    services.reset_password(rencheng_officer, colleague, NEW_PASSWORD)
    assert not _works(secret)
    assert AuditEvent.objects.filter(action="token.revoke", object_id=str(colleague.pk)).exists()


def test_token_issued_before_reset_is_refused_even_if_not_marked_revoked(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    colleague = make_user("colleague", roles=["county_officer"], region=tree["rencheng"])
    secret = _token("colleague")["token"]
    services.reset_password(rencheng_officer, colleague, NEW_PASSWORD)
    ApiToken.objects.filter(user=colleague).update(revoked_at=None)  # as if the revocation had been lost
    assert not _works(secret)


def test_token_of_locked_account_is_refused(client: Any, rencheng_officer: User) -> None:
    secret = _token("rc_officer")["token"]
    for _i in range(5):
        client.post(LOGIN, {"username": "rc_officer", "password": "wrong"}, REMOTE_ADDR="10.8.8.8")
    assert not _works(secret)


def test_user_cannot_clear_own_expiry_through_api(rencheng_officer: User) -> None:
    expiry = timezone.now() + timedelta(days=30)
    User.objects.filter(pk=rencheng_officer.pk).update(expires_at=expiry)
    api = APIClient()
    api.force_authenticate(User.objects.get(pk=rencheng_officer.pk))
    response = api.patch(f"/api/v1/users/{rencheng_officer.pk}/", {"expires_at": None}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "account_control" and response.json()["field"] == "expires_at"
    rencheng_officer.refresh_from_db()
    assert rencheng_officer.expires_at == expiry
    # Own profile fields stay editable.
    response = api.patch(f"/api/v1/users/{rencheng_officer.pk}/", {"display_name": "新名字"}, format="json")
    assert response.status_code == 200 and response.json()["display_name"] == "新名字"


def test_owner_lists_and_revokes_own_tokens(
    rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    other = make_user("other", roles=["inspector"], region=tree["rencheng"])
    mine, theirs = _token("rc_officer"), _token("other")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {mine['token']}")
    listed = api.get("/api/v1/api-tokens/").json()["results"]
    assert [t["id"] for t in listed] == [mine["id"]] and listed[0]["active"] is True
    assert "token" not in listed[0] and "digest" not in listed[0]
    # Someone else's token answers like a missing one, and stays alive.
    assert api.delete(f"/api/v1/api-tokens/{theirs['id']}/").status_code == 404
    assert _works(theirs["token"])
    assert api.delete(f"/api/v1/api-tokens/{mine['id']}/").status_code == 204
    assert not _works(mine["token"])
    event = AuditEvent.objects.get(action="token.revoke")
    assert event.username == "rc_officer" and event.object_id == str(rencheng_officer.pk)
    assert AuditEvent.objects.filter(action="token.issue").count() == 2
    assert other.api_tokens.get().revoked_at is None


def test_security_admin_lists_and_revokes_tokens_in_scope(
    make_user: Any, tree: dict[str, Any], cross_inspector: User
) -> None:
    secadmin = make_user("rc_secadmin", roles=["security_admin"], region=tree["rencheng"])
    inside = make_user("inside", roles=["inspector"], region=tree["rencheng"])
    outside = make_user("zc_person", roles=["inspector"], region=tree["zoucheng"])
    t_inside, t_outside, t_cross = _token("inside"), _token("zc_person"), _token("cross")
    api = APIClient()
    api.force_authenticate(secadmin)
    listed = {t["id"] for t in api.get("/api/v1/api-tokens/").json()["results"]}
    assert listed == {t_inside["id"], t_cross["id"]}
    assert api.delete(f"/api/v1/api-tokens/{t_outside['id']}/").status_code == 404
    # Listed (the user is in the directory) but not manageable: its access reaches 邹城市.
    assert api.delete(f"/api/v1/api-tokens/{t_cross['id']}/").status_code == 404
    assert api.delete(f"/api/v1/api-tokens/{t_inside['id']}/").status_code == 204
    assert not _works(t_inside["token"])
    assert _works(t_cross["token"]) and _works(t_outside["token"])
    assert inside.api_tokens.get().revoked_by == secadmin
    assert outside.api_tokens.get().revoked_at is None


def test_security_admin_revokes_token_from_user_page(
    client: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    secadmin = make_user("rc_secadmin", roles=["security_admin"], region=tree["rencheng"])
    inside = make_user("inside", roles=["inspector"], region=tree["rencheng"])
    body = _token("inside")
    login_client(client, secadmin)
    page = client.get(reverse("accounts:user_detail", args=[inside.pk])).content.decode()
    assert body["token"][:12] in page
    url = reverse("accounts:user_action_arg", args=[inside.pk, "revoke-token", body["id"]])
    assert client.post(url).status_code == 302
    assert not _works(body["token"])


def test_my_api_tokens_page(
    client: Any, rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    other = make_user("other", roles=["inspector"], region=tree["rencheng"])
    theirs = _token("other")
    login_client(client, rencheng_officer)
    page = client.get(reverse("accounts:api_tokens"))
    assert page.status_code == 200 and "我的 API 令牌" in page.content.decode()
    assert theirs["token"][:12] not in page.content.decode()
    issued = client.post(reverse("accounts:api_tokens"), {"action": "issue", "name": "报表脚本"})
    token = ApiToken.objects.get(user=rencheng_officer)
    secret = issued.context["secret"]
    assert issued.status_code == 200 and secret in issued.content.decode() and token.name == "报表脚本"
    assert _works(secret)
    # Shown once: the list shows only the start.
    again = client.get(reverse("accounts:api_tokens")).content.decode()
    assert secret not in again and token.prefix in again
    # Another user's token id answers 404 and stays alive.
    other_id = str(other.api_tokens.get().pk)
    assert (
        client.post(reverse("accounts:api_tokens"), {"action": "revoke", "token": other_id}).status_code
        == 404
    )
    assert _works(theirs["token"])
    assert (
        client.post(reverse("accounts:api_tokens"), {"action": "revoke", "token": token.pk}).status_code
        == 302
    )
    assert not _works(secret)


def test_dormant_sweep_ends_tokens(make_user: Any, tree: dict[str, Any]) -> None:
    user = make_user("sleeper", roles=["inspector"], region=tree["rencheng"])
    secret = _token("sleeper")["token"]
    User.objects.filter(pk=user.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.disable_dormant_accounts() >= 1
    User.objects.filter(pk=user.pk).update(is_active=True, expires_at=None)
    assert not _works(secret)


def test_issuing_beyond_the_limit_revokes_the_oldest(rencheng_officer: User, settings: Any) -> None:
    settings.API_TOKEN_MAX_PER_USER = 2
    first, second, third = _token("rc_officer"), _token("rc_officer"), _token("rc_officer")
    assert not _works(first["token"])
    assert _works(second["token"]) and _works(third["token"])
    assert ApiToken.objects.filter(user=rencheng_officer, revoked_at__isnull=True).count() == 2


def test_old_drf_tokens_are_carried_over_hashed_and_their_plaintext_deleted(rencheng_officer: User) -> None:
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("minan.accounts.migrations.0006_api_tokens")
    old_key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, user_id integer, created timestamp with time zone)'
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [old_key, rencheng_officer.pk, "2026-01-02 03:04:05"],
        )
    migration.carry_over_authtoken_tokens(apps, SimpleNamespace(connection=connection))
    token = ApiToken.objects.get(user=rencheng_officer)
    assert token.digest != old_key and token.name == "authtoken" and token.created_at.year == 2026
    assert token.expires_at > timezone.now() + timedelta(days=settings.API_TOKEN_DAYS - 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert _works(old_key)
