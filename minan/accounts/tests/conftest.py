"""Fixtures of the account tests."""

from __future__ import annotations

from typing import Any

import pytest

from minan.accounts.models import User, UserScope


@pytest.fixture
def cross_inspector(make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]) -> User:
    """A 任城区 county officer on a cross inspection: an open task gives it an institution in 邹城市."""
    user = make_user("cross", roles=["county_officer"], region=tree["rencheng"])
    UserScope.objects.create(user=user, institution=institutions["zc_elderly"], source="inspection")
    return user
