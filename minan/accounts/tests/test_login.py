"""Login security (等保 2.0 level 3): lockout, second factor, password policy, forced change, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from conftest import PASSWORD
from minan.accounts import services
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings: Any) -> None:
    # django-otp slows down retries after a wrong code; these tests retry at once on purpose.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


LOGIN = "/accounts/login/"


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_login_page_is_chinese_by_default(client: Any) -> None:
    page = client.get(LOGIN).content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page


def test_good_password_signs_in(client: Any, rencheng_officer: User) -> None:
    response = client.post(LOGIN, {"username": "rc_officer", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="login", username="rc_officer", result="success").count() == 1


def test_wrong_password_is_refused_and_audited(client: Any, rencheng_officer: User) -> None:
    response = client.post(LOGIN, {"username": "rc_officer", "password": "wrong"})
    assert response.status_code == 400
    assert "用户名或密码错误" in response.content.decode()
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="login.failed")
    assert (event.username, event.result, event.ip) == ("rc_officer", "failure", "127.0.0.1")


def test_six_wrong_passwords_lock_the_account(client: Any, rencheng_officer: User) -> None:
    for _i in range(5):
        client.post(LOGIN, {"username": "rc_officer", "password": "wrong"})
    sixth = client.post(LOGIN, {"username": "rc_officer", "password": "wrong"})
    assert sixth.status_code == 403
    assert "30" in sixth.content.decode()
    # Locked: even the right password is refused now, from another address too.
    right = client.post(LOGIN, {"username": "rc_officer", "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    assert right.status_code == 403 and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="login.locked", username="rc_officer").exists()


def test_lock_expires_after_cool_off(client: Any, rencheng_officer: User) -> None:
    import time_machine

    for _i in range(5):
        client.post(LOGIN, {"username": "rc_officer", "password": "wrong"})
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)):
        response = client.post(LOGIN, {"username": "rc_officer", "password": PASSWORD})
        assert response.status_code == 302


def test_five_failures_from_one_address_lock_that_address(client: Any, make_user: Any) -> None:
    make_user("victim")
    for i in range(5):
        client.post(LOGIN, {"username": f"nobody{i}", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    response = client.post(LOGIN, {"username": "victim", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 403
    # The same account from another address is fine: the lock was on the address.
    response = client.post(LOGIN, {"username": "victim", "password": PASSWORD}, REMOTE_ADDR="10.1.1.2")
    assert response.status_code == 302


def test_administrator_cannot_sign_in_without_totp(client: Any, make_user: Any) -> None:
    admin = make_user("sys", roles=["system_admin"])
    device = services.provision_totp(None, admin, "3132333435363738393031323334353637383930")
    response = client.post(LOGIN, {"username": "sys", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login_verify")
    # Password alone does not sign in: home redirects to the login page.
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302
    wrong = client.post(reverse("accounts:login_verify"), {"code": "000000"})
    assert wrong.status_code == 400 and "_auth_user_id" not in client.session
    ok = client.post(reverse("accounts:login_verify"), {"code": current_code(device)})
    assert ok.status_code == 302
    assert client.get("/").status_code == 200


def test_administrator_without_device_must_enrol_at_login(client: Any, make_user: Any) -> None:
    make_user("auditor9", roles=["audit_admin"])
    client.post(LOGIN, {"username": "auditor9", "password": PASSWORD})
    page = client.get(reverse("accounts:login_verify"))
    assert "otpauth://" not in page.content.decode()  # the URI is in the QR, the key is shown by hand
    device = TOTPDevice.objects.get(user__username="auditor9", confirmed=False)
    response = client.post(reverse("accounts:login_verify"), {"code": current_code(device)})
    assert response.status_code == 200 and "恢复码" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200


def test_recovery_code_signs_in_once(client: Any, make_user: Any) -> None:
    admin = make_user("sec", roles=["security_admin"])
    device = services.start_totp_enrolment(admin)
    codes = services.confirm_totp(admin, device, current_code(device))
    assert len(codes) == 10
    client.post(LOGIN, {"username": "sec", "password": PASSWORD})
    assert client.post(reverse("accounts:login_verify"), {"code": codes[0]}).status_code == 302
    client.post(reverse("accounts:logout"))
    client.post(LOGIN, {"username": "sec", "password": PASSWORD})
    assert client.post(reverse("accounts:login_verify"), {"code": codes[0]}).status_code == 400


def test_admin_session_without_verified_device_is_ended(client: Any, make_user: Any) -> None:
    admin = make_user("sys2", roles=["system_admin"])
    client.force_login(admin)  # a session made without the second step
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_first_login_forces_password_change(client: Any, make_user: Any) -> None:
    make_user("newbie", must_change_password=True)
    client.post(LOGIN, {"username": "newbie", "password": PASSWORD})
    assert client.get("/").url == reverse("accounts:password_change")
    bad = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "abcdefgh", "new_password2": "abcdefgh"},
    )
    assert bad.status_code == 400
    user = User.objects.get(username="newbie")
    assert user.must_change_password and user.check_password(PASSWORD)
    good = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "Qingdao#River9", "new_password2": "Qingdao#River9"},
    )
    assert good.status_code == 302
    assert client.get("/").status_code == 200


def test_expired_password_forces_change(client: Any, make_user: Any) -> None:
    user = make_user("old")
    User.objects.filter(pk=user.pk).update(password_changed_at=timezone.now() - timedelta(days=91))
    client.post(LOGIN, {"username": "old", "password": PASSWORD})
    assert client.get("/").url == reverse("accounts:password_change")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Ab1!", "too short"),
        ("abcdefgh1", "two classes"),
        ("Password1", "common"),
        ("12345678", "numeric"),
    ],
)
def test_password_policy(make_user: Any, password: str, why: str) -> None:
    user = make_user("policy")
    with pytest.raises(DomainError):
        services.change_password(user, PASSWORD, password)
    user.refresh_from_db()
    assert user.check_password(PASSWORD), why


def test_recent_passwords_cannot_be_reused(make_user: Any) -> None:
    user = make_user("reuse")
    services.change_password(user, PASSWORD, "Second#Pass22")
    with pytest.raises(DomainError):
        services.change_password(user, "Second#Pass22", PASSWORD)
    services.change_password(user, "Second#Pass22", "Third#Pass333")
    assert user.password_history.count() == 3


def test_idle_timeout_is_thirty_minutes() -> None:
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST


def test_dormant_and_expired_accounts_are_disabled(make_user: Any) -> None:
    now = timezone.now()
    active = make_user("active")
    dormant = make_user("dormant")
    expired = make_user("expired")
    never = make_user("never")
    User.objects.filter(pk=active.pk).update(last_login=now - timedelta(days=10))
    User.objects.filter(pk=dormant.pk).update(last_login=now - timedelta(days=91))
    User.objects.filter(pk=expired.pk).update(last_login=now, expires_at=now - timedelta(minutes=1))
    User.objects.filter(pk=never.pk).update(date_joined=now - timedelta(days=100))
    assert services.disable_dormant_accounts(now) == 3
    assert services.disable_dormant_accounts(now) == 0  # idempotent
    states = dict(User.objects.values_list("username", "is_active"))
    assert states == {"active": True, "dormant": False, "expired": False, "never": False}
    assert AuditEvent.objects.filter(action="user.disable").count() == 3


def test_expired_account_cannot_sign_in(client: Any, make_user: Any) -> None:
    user = make_user("temp")
    User.objects.filter(pk=user.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.post(LOGIN, {"username": "temp", "password": PASSWORD}).status_code == 400


def test_oversize_and_empty_login_input(client: Any, rencheng_officer: User) -> None:
    response = client.post(LOGIN, {"username": "x" * 500, "password": PASSWORD})
    assert response.status_code == 400 and "_auth_user_id" not in client.session
    assert client.post(LOGIN, {"username": "", "password": ""}).status_code == 400


# --- API token -------------------------------------------------------------------------------------


def test_api_token_for_plain_user(rencheng_officer: User) -> None:
    api = APIClient()
    response = api.post(
        "/api/v1/auth/token/", {"username": "rc_officer", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/v1/me/").json()["username"] == "rc_officer"


def test_api_token_requires_totp_for_admins(make_user: Any) -> None:
    admin = make_user("apiadmin", roles=["system_admin"])
    device = services.provision_totp(None, admin, "3132333435363738393031323334353637383931")
    api = APIClient()
    body = {"username": "apiadmin", "password": PASSWORD}
    assert api.post("/api/v1/auth/token/", body, format="json").json()["code"] == "totp_required"
    assert (
        api.post("/api/v1/auth/token/", {**body, "totp": "000000"}, format="json").json()["code"]
        == "invalid_totp"
    )
    ok = api.post("/api/v1/auth/token/", {**body, "totp": current_code(device)}, format="json")
    assert ok.status_code == 200 and ok.json()["token"].startswith("mna_") and ok.json()["expires_at"]


def test_api_token_wrong_credentials_and_lockout(rencheng_officer: User) -> None:
    api = APIClient()
    for _i in range(5):
        response = api.post(
            "/api/v1/auth/token/", {"username": "rc_officer", "password": "bad"}, format="json"
        )
        assert response.status_code in {400, 403}
    response = api.post(
        "/api/v1/auth/token/", {"username": "rc_officer", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "locked"


def test_idle_session_ends_after_thirty_minutes(client: Any, rencheng_officer: User) -> None:
    import time_machine

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post(LOGIN, {"username": "rc_officer", "password": PASSWORD})
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert client.get("/").status_code == 200  # activity moves the expiry on
    with time_machine.travel(start + timedelta(minutes=29 + 29), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(minutes=29 + 29 + 31), tick=False):
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
