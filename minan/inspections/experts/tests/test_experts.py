"""The expert roster: only accounts with the expert role, audited changes, expiry counts, and who may
edit it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.inspections.execution import services
from minan.inspections.experts import services as experts
from minan.inspections.models import Expert

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_user(make_user: Any, tree: dict[str, Any]) -> Any:
    return make_user("wang", roles=["expert"], region=tree["city"])


def test_the_roster_takes_only_expert_accounts_and_audits_changes(
    expert_user: Any, city_office: Any, rencheng_officer: Any, institutions: Any
) -> None:
    with pytest.raises(DomainError) as caught:
        experts.save_expert(city_office, None, user=rencheng_officer, qualification="注册消防工程师")
    assert caught.value.field == "user" and not Expert.objects.exists()
    with pytest.raises(DomainError) as caught:
        experts.save_expert(city_office, None, user=expert_user, qualification=" ")
    assert caught.value.field == "qualification" and not Expert.objects.exists()
    with pytest.raises(NotPermitted):
        experts.save_expert(rencheng_officer, None, user=expert_user, qualification="注册消防工程师")
    entry = experts.save_expert(city_office, None, user=expert_user, qualification="注册消防工程师",
                                fields=["electrical", "fire", "fire"], valid_until=dt.date(2026, 6, 30))  # fmt: skip
    assert entry.fields == ["fire", "electrical"]
    with pytest.raises(DomainError) as caught:
        experts.save_expert(city_office, None, user=expert_user, qualification="x")
    assert caught.value.code == "duplicate" and Expert.objects.count() == 1
    # Expired on 2026-06-30: no expert survey until renewed.
    home = institutions["rc_elderly"]
    assert "2026-06-30" in (
        services.performer_problem(expert_user, home, "expert", dt.date(2026, 7, 1)) or ""
    )
    experts.save_expert(city_office, entry, valid_until=dt.date(2029, 6, 30))
    assert services.performer_problem(expert_user, home, "expert", dt.date(2026, 7, 1)) is None
    events = list(
        AuditEvent.objects.filter(action__startswith="expert.")
        .order_by("id")
        .values_list("action", "changes")
    )
    assert [a for a, _c in events] == ["expert.create", "expert.change"]
    assert events[1][1] == {"valid_until": ["2026-06-30", "2029-06-30"]}


def test_roster_pages_and_api(client: Any, expert_user: Any, city_office: Any, rencheng_officer: Any) -> None:
    c = login_client(client, rencheng_officer)
    assert c.get("/inspections/experts/").status_code == 403
    c = login_client(client, city_office)
    form = c.get("/inspections/experts/new/").content.decode()
    assert f'value="{expert_user.pk}"' in form and f'value="{rencheng_officer.pk}"' not in form
    refused = c.post("/inspections/experts/new/", {"user": expert_user.pk, "qualification": ""})
    assert refused.status_code == 400 and not Expert.objects.exists()
    c.post("/inspections/experts/new/", {"user": expert_user.pk, "qualification": "高级工程师", "areas": ["building"],
                                         "valid_until": "2027-12-31", "active": "on"})  # fmt: skip
    entry = Expert.objects.get()
    assert (entry.qualification, entry.fields, entry.valid_until) == (
        "高级工程师",
        ["building"],
        dt.date(2027, 12, 31),
    )
    assert f'data-expert="{entry.pk}"' in c.get("/inspections/experts/").content.decode()

    api = APIClient()
    api.force_authenticate(rencheng_officer)
    listed = api.get("/api/v1/experts/").json()
    assert [row["name"] for row in listed["results"]] == ["wang"] and listed["results"][0]["areas"] == [
        "building"
    ]
    assert api.patch(f"/api/v1/experts/{entry.pk}/", {"active": False}, format="json").status_code == 403
    assert Expert.objects.get().active is True
    api.force_authenticate(city_office)
    changed = api.patch(f"/api/v1/experts/{entry.pk}/", {"active": False, "areas": ["fire"]}, format="json")
    assert changed.status_code == 200 and (changed.json()["active"], changed.json()["areas"]) == (
        False,
        ["fire"],
    )
