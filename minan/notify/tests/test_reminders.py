"""Reminders that other modules send through `notify`: expired insurance, overdue visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from minan.accounts.models import UserScope
from minan.core.audit.models import AuditEvent
from minan.duty import services as duty
from minan.institutions.models import InsurancePolicy
from minan.institutions.services import remind_expired_policies
from minan.notify.models import Notification


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(dt.datetime(2026, 11, 28, 1, tzinfo=dt.UTC), tick=False):
        yield


def policy(institution: Any, number: str, starts: str, ends: str) -> InsurancePolicy:
    return InsurancePolicy.objects.create(
        institution=institution, insurer="人保财险", number=number, coverage=1_000_000,
        starts_on=starts, ends_on=ends, region_path=institution.region_path,
    )  # fmt: skip


@pytest.mark.django_db
def test_an_expired_policy_reminds_the_institution_and_its_cadre_once(
    institutions: Any,
    make_user: Any,
    city_office: Any,
    tree: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    home, other = institutions["rc_elderly"], institutions["zc_elderly"]
    staff = make_user("staff", roles=["institution_staff"], institution=home)
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    policy(home, "P-OLD", "2024-11-01", "2025-10-31")
    policy(home, "P-1", "2025-11-01", "2026-11-20")  # the newest, expired
    policy(other, "P-2", "2025-12-01", "2026-11-30")  # still valid
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_expired_policies() == 1
    notes = list(
        Notification.objects.order_by("recipient__username").values_list("recipient__username", "subject")
    )
    assert notes == [
        ("cadre", "任城区古槐敬老院的综合责任保险已到期"),
        ("staff", "任城区古槐敬老院的综合责任保险已到期"),
    ]
    body = Notification.objects.filter(recipient=staff).get().body
    assert "P-1" in body and "2026-11-20" in body
    assert InsurancePolicy.objects.get(number="P-1").expiry_reminded_at is not None
    assert AuditEvent.objects.filter(action="insurance.expiry_reminder").count() == 1
    # The next day: nothing new.
    assert remind_expired_policies() == 0
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_a_renewed_policy_is_not_reminded(institutions: Any, make_user: Any) -> None:
    home = institutions["rc_elderly"]
    make_user("staff", roles=["institution_staff"], institution=home)
    policy(home, "P-1", "2025-11-01", "2026-11-20")
    policy(home, "P-2", "2026-11-21", "2027-11-20")
    assert remind_expired_policies() == 0
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_cadres_with_overdue_visits_get_one_low_urgency_reminder(
    institutions: Any, make_user: Any, city_office: Any, tree: dict[str, Any]
) -> None:
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, institutions["rc_elderly"], cadre, starts_on=dt.date(2026, 9, 1))
    duty.assign_cadre(city_office, institutions["rc_funeral"], cadre, starts_on=dt.date(2026, 11, 20))
    assert duty.remind_overdue_visits() == 1
    [note] = Notification.objects.all()
    assert note.urgency == "low" and note.recipient == cadre
    assert note.subject == "1 个机构的包保督查已逾期"
    assert "任城区古槐敬老院（应督查日期 2026-10-01）" in note.body and "殡仪馆" not in note.body
