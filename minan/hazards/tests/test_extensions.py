"""Deadline extensions: asked with a reason, decided by someone else, recorded, reminders restart."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.errors import DomainError, NotPermitted
from minan.duty import services as duty
from minan.hazards import services
from minan.hazards.models import Extension, Hazard, HazardEvent


@pytest.fixture(autouse=True)
def _day() -> Any:
    with time_machine.travel(dt.datetime(2026, 9, 30, 2, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def setup(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    cadre = User.objects.get(pk=cadre.pk)
    staff = make_user("staff", roles=["institution_staff"], institution=home)
    hazard = services.report(
        cadre, home, source="duty_visit", category="fire", level="general", description="x"
    )
    hazard = services.transition(cadre, hazard, "assign", requirement="清理整改到位")  # due 2026-10-13
    hazard = services.transition(staff, hazard, "start")
    Hazard.objects.filter(pk=hazard.pk).update(escalation_step=2)
    return {"cadre": cadre, "staff": staff, "hazard": Hazard.objects.get(pk=hazard.pk)}


@pytest.mark.django_db
def test_an_approved_extension_moves_the_deadline_in_working_days(setup: dict[str, Any]) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    with pytest.raises(DomainError):
        services.request_extension(staff, hazard, 5, "  ")  # a reason is needed
    extension = services.request_extension(staff, hazard, 5, "等待配件到货")
    with pytest.raises(DomainError) as caught:
        services.request_extension(staff, hazard, 3, "again")
    assert caught.value.code == "duplicate"
    with pytest.raises(NotPermitted):
        services.decide_extension(staff, extension, True)  # the institution does not approve its own
    extension = services.decide_extension(cadre, extension, True)
    assert (extension.old_deadline, extension.new_deadline) == (dt.date(2026, 10, 13), dt.date(2026, 10, 20))
    hazard.refresh_from_db()
    assert hazard.deadline == dt.date(2026, 10, 20) and hazard.escalation_step == 0
    assert list(HazardEvent.objects.filter(hazard=hazard, action__startswith="extension").values_list("action", flat=True)) == [
        "extension_request", "extension_approved",
    ]  # fmt: skip
    with pytest.raises(DomainError) as caught:
        services.decide_extension(cadre, extension, False, "no")
    assert caught.value.code == "conflict"


@pytest.mark.django_db
def test_a_refusal_needs_a_reason_and_keeps_the_deadline(setup: dict[str, Any], client: Any) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    login_client(client, staff).post(
        reverse("hazards:extension", args=[hazard.pk]), {"days": "10", "reason": "资金未到位"}
    )
    extension = Extension.objects.get()
    c = login_client(client, cadre)
    c.post(reverse("hazards:extension_decide", args=[extension.pk]), {"approve": "0", "comment": ""})
    assert Extension.objects.get().decision == "pending"
    page = c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
    assert f'data-extension="{extension.pk}"' in page and "资金未到位" in page
    c.post(
        reverse("hazards:extension_decide", args=[extension.pk]), {"approve": "0", "comment": "应立即整改"}
    )
    assert Extension.objects.get().decision == "refused"
    assert Hazard.objects.get(pk=hazard.pk).deadline == dt.date(2026, 10, 13)


@pytest.mark.django_db
def test_extensions_through_the_api(setup: dict[str, Any]) -> None:
    hazard, staff, cadre = setup["hazard"], setup["staff"], setup["cadre"]
    api = APIClient()
    api.force_authenticate(staff)
    asked = api.post(
        f"/api/v1/hazards/{hazard.pk}/extension/", {"days": 5, "reason": "等待配件"}, format="json"
    )
    assert asked.status_code == 201 and asked.json()["decision"] == "pending"
    again = api.post(f"/api/v1/hazards/{hazard.pk}/extension/", {"days": 5, "reason": "x"}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "duplicate"
    own = api.post(f"/api/v1/hazards/{hazard.pk}/decide-extension/", {"extension": asked.json()["id"], "approve": True},
                   format="json")  # fmt: skip
    assert own.status_code == 403 and Extension.objects.get().decision == "pending"
    api.force_authenticate(cadre)
    decided = api.post(f"/api/v1/hazards/{hazard.pk}/decide-extension/",
                       {"extension": asked.json()["id"], "approve": True}, format="json")  # fmt: skip
    assert decided.status_code == 200 and decided.json()["new_deadline"] == "2026-10-20"
