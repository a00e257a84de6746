"""Failed sign-ins count per account and per address, and a success on one account
does not clear the count of others (password spraying interleaved with a valid login)."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from conftest import PASSWORD
from minan.core.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _failures(**filters: Any) -> int:
    return sum(a.failures_since_start for a in AccessAttempt.objects.filter(**filters))


def test_password_spraying_with_interleaved_success_locks_the_address(client: Any, make_user: Any) -> None:
    make_user("sprayer")
    victims = [make_user(f"victim{i}") for i in range(12)]
    address = "10.7.7.7"
    statuses = []
    for i, victim in enumerate(victims):
        if i and i % 4 == 0:
            # A valid login every 4 failures: it must not clear the address's count.
            ok = client.post(LOGIN, {"username": "sprayer", "password": PASSWORD}, REMOTE_ADDR=address)
            statuses.append(("ok", ok.status_code))
            client.logout()
        bad = client.post(LOGIN, {"username": victim.username, "password": "wrong"}, REMOTE_ADDR=address)
        statuses.append((victim.username, bad.status_code))
    # Failures 1-4 are refused (400), the valid login goes through, failure 5 locks the address;
    # from then on everything from it is refused, the valid login included.
    assert statuses[:5] == [
        ("victim0", 400),
        ("victim1", 400),
        ("victim2", 400),
        ("victim3", 400),
        ("ok", 302),
    ]
    assert statuses[5] == ("victim4", 403)
    assert all(code == 403 for _name, code in statuses[6:])
    # Every attempt from the address counts: 12 guesses and the refused valid login during the lock.
    assert _failures(ip_address=address) == 13
    # Each account was tried once: each counts exactly one failure, none is locked.
    assert [_failures(username=v.username) for v in victims] == [1] * 12
    assert _failures(username="sprayer") == 1
    # The lock is on the address: the same valid login from elsewhere works.
    assert (
        client.post(LOGIN, {"username": "sprayer", "password": PASSWORD}, REMOTE_ADDR="10.7.7.8").status_code
        == 302
    )
    assert AuditEvent.objects.filter(action="login.locked", detail=f"ip={address}").exists()


def test_success_does_not_clear_other_accounts_failures(client: Any, make_user: Any) -> None:
    make_user("friend")
    make_user("target")
    for _i in range(3):
        client.post(LOGIN, {"username": "target", "password": "wrong"}, REMOTE_ADDR="10.3.3.3")
    assert (
        client.post(LOGIN, {"username": "friend", "password": PASSWORD}, REMOTE_ADDR="10.3.3.3").status_code
        == 302
    )
    assert _failures(username="target") == 3 and _failures(ip_address="10.3.3.3") == 3
    client.logout()
    # Two more on the account, from another address, lock the account (5 in all).
    for _i in range(2):
        client.post(LOGIN, {"username": "target", "password": "wrong"}, REMOTE_ADDR="10.4.4.4")
    response = client.post(LOGIN, {"username": "target", "password": PASSWORD}, REMOTE_ADDR="10.5.5.5")
    assert response.status_code == 403


def test_success_clears_own_failures_from_that_address(client: Any, make_user: Any) -> None:
    make_user("typo")
    for _i in range(4):
        client.post(LOGIN, {"username": "typo", "password": "wrong"}, REMOTE_ADDR="10.6.6.6")
    assert (
        client.post(LOGIN, {"username": "typo", "password": PASSWORD}, REMOTE_ADDR="10.6.6.6").status_code
        == 302
    )
    assert _failures(username="typo") == 0
    client.logout()
    assert (
        client.post(LOGIN, {"username": "typo", "password": "wrong"}, REMOTE_ADDR="10.6.6.6").status_code
        == 400
    )


def test_axes_settings_count_account_and_address_separately() -> None:
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert settings.AXES_RESET_ON_SUCCESS is False
