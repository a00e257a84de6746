"""Editing the criteria catalogue: criteria sets and clauses through the
pages and the API, all written by `criteria`; refusals change nothing; every change is audited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils.translation import gettext
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.hazards import services
from minan.hazards.criteria import services as criteria
from minan.hazards.models import Clause, CriteriaSet, Hazard
from minan.inspections.models import ChecklistTemplate

pytestmark = pytest.mark.django_db

SEED = "mca-2023-elderly-major"
NEW = "mca-2026-elderly-major"
CATALOGUE = "/hazards/criteria/"


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)


def api_as(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(fresh(user))
    return api


def section(page: str, code: str) -> str:
    found = re.search(rf'<section class="card" id="criteria-{re.escape(code)}".*?</section>', page, re.S)
    assert found is not None, code
    return found.group(0)


def field_errors(page: str, name: str) -> list[str]:
    """The error messages shown inside the form field `name`."""
    found = re.search(rf'<div class="field has-error">\s*<label for="id_{name}">.*?</div>', page, re.S)
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', found.group(0), re.S) if found else []


def messages_of(page: str, kind: str) -> list[str]:
    return re.findall(rf'<li class="msg-{kind}">(.*?)</li>', page, re.S)


def actions(object_type: str) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type=object_type).order_by("id").values_list("action", flat=True)
    )


def new_set(actor: Any, code: str = NEW, **fields: Any) -> CriteriaSet:
    values = {
        "title": "养老机构重大事故隐患判定准则",
        "issuer": "国家市场监督管理总局",
        "expected_items": 22,
        **fields,
    }
    return criteria.save_set(fresh(actor), None, code=code, **values)


@pytest.fixture
def sysadmin(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("sysadmin", roles=["system_admin"], region=tree["city"])


SET_FORM = {
    "code": NEW,
    "title": "养老机构重大事故隐患判定准则",
    "issuer": "国家市场监督管理总局",
    "issued_on": "2026-09-01",
    "effective_on": "2027-01-01",
    "expected_items": "22",
    "source": "GB 2026 国家强制性标准",
    "superseded_by": "",
    "active": "on",
    "makes_major": "on",
}


def test_an_administrator_builds_a_set_with_its_clauses_through_the_pages(
    client: Any, sysadmin: User
) -> None:
    c = login_client(client, sysadmin)
    page = c.get(CATALOGUE).content.decode()
    assert 'href="/hazards/criteria/new/"' in page
    seed = CriteriaSet.objects.get(code=SEED)
    assert f'href="/hazards/criteria/{seed.pk}/edit/"' in page
    assert f'href="/hazards/criteria/{seed.pk}/clauses/new/"' in page

    response = c.post("/hazards/criteria/new/", SET_FORM)
    assert response.status_code == 302 and response["Location"] == f"/hazards/criteria/#criteria-{NEW}"
    created = CriteriaSet.objects.get(code=NEW)
    assert (created.title, created.issuer, created.issued_on, created.effective_on, created.expected_items) == (
        "养老机构重大事故隐患判定准则", "国家市场监督管理总局", dt.date(2026, 9, 1), dt.date(2027, 1, 1), 22,
    )  # fmt: skip
    assert (created.active, created.makes_major, created.local, created.superseded_by) == (
        True,
        True,
        False,
        None,
    )

    add = f"/hazards/criteria/{created.pk}/clauses/new/"
    assert c.get(add).status_code == 200
    first = {
        "key": "GB2026-5-1",
        "group": "重要设施设备",
        "text": "住宿楼采用彩钢板搭建（转述）",
        "text_en": "",
    }
    assert c.post(add, first).status_code == 302
    second = {"key": "GB2026-5-2", "group": "重要设施设备", "text": "特种设备未经检验（转述）", "text_en": ""}
    assert c.post(add, second).status_code == 302
    clauses = list(
        Clause.objects.filter(criteria_set=created).order_by("order").values_list("key", "order", "complete")
    )
    assert clauses == [("GB2026-5-1", 0, False), ("GB2026-5-2", 1, False)]

    clause = Clause.objects.get(key="GB2026-5-2")
    edit = f"/hazards/criteria/clauses/{clause.pk}/edit/"
    assert "特种设备未经检验（转述）" in c.get(edit).content.decode()
    changed = {**second, "text": "特种设备未经检验或检验不合格", "complete": "on", "order": ""}
    assert c.post(edit, changed).status_code == 302
    clause.refresh_from_db()
    assert (clause.text, clause.complete, clause.order) == ("特种设备未经检验或检验不合格", True, 1)

    # The seed set is superseded by the new one: still listed, and its clauses stay.
    response = c.post(
        f"/hazards/criteria/{seed.pk}/edit/", {**set_form_values(seed), "superseded_by": created.pk}
    )
    assert response.status_code == 302
    seed.refresh_from_db()
    assert seed.superseded_by == created and Clause.objects.filter(criteria_set=seed).count() == 7
    page = c.get(CATALOGUE).content.decode()
    assert f'data-superseded-by="{NEW}"' in section(page, SEED)
    assert 'data-completeness="2/22"' in section(page, NEW)
    assert "GB2026-5-1" in section(page, NEW) and "MCA2023-4-3" in section(page, SEED)

    assert actions("hazards.criteriaset") == ["criteria.set_create", "criteria.set_change"]
    assert actions("hazards.clause") == [
        "criteria.clause_create",
        "criteria.clause_create",
        "criteria.clause_change",
    ]
    change = AuditEvent.objects.filter(action="criteria.clause_change").get()
    assert change.changes == {
        "complete": [False, True],
        "text": ["特种设备未经检验（转述）", "特种设备未经检验或检验不合格"],
    }
    assert (change.user_id, change.object_id, change.detail) == (
        sysadmin.pk,
        str(clause.pk),
        f"{NEW} GB2026-5-2",
    )
    supersede = AuditEvent.objects.filter(action="criteria.set_change").get()
    assert supersede.changes == {"superseded_by": [None, str(created.pk)]}
    assert supersede.object_id == str(seed.pk)


def set_form_values(criteria_set: CriteriaSet) -> dict[str, str]:
    """The edit form of a set as the browser posts it back unchanged."""
    return {
        "code": criteria_set.code,
        "title": criteria_set.title,
        "issuer": criteria_set.issuer,
        "issued_on": str(criteria_set.issued_on or ""),
        "effective_on": str(criteria_set.effective_on or ""),
        "expected_items": str(criteria_set.expected_items),
        "source": criteria_set.source,
        "superseded_by": str(criteria_set.superseded_by_id or ""),
        **({"active": "on"} if criteria_set.active else {}),
        **({"makes_major": "on"} if criteria_set.makes_major else {}),
        **({"local": "on"} if criteria_set.local else {}),
    }


def test_the_api_creates_reads_and_changes_sets_and_clauses(city_office: User) -> None:
    api = api_as(city_office)
    created = api.post(
        "/api/v1/criteria-sets/",
        {
            "code": NEW,
            "title": "养老机构重大事故隐患判定准则",
            "issued_on": "2026-09-01",
            "expected_items": 22,
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("code", "issued_on", "effective_on", "active", "makes_major", "local")} == {
        "code": NEW, "issued_on": "2026-09-01", "effective_on": None, "active": True, "makes_major": True,
        "local": False,
    }  # fmt: skip
    assert (body["expected_items"], body["loaded"], body["clauses"], body["superseded_by"]) == (
        22,
        0,
        [],
        None,
    )
    pk = body["id"]

    clause = api.post(
        "/api/v1/criteria-clauses/",
        {"set": NEW, "key": "GB2026-6-1", "group": "安全管理", "text": "未建立消防安全责任制（转述）"},
        format="json",
    )
    assert clause.status_code == 201
    assert clause.json() == {
        "id": clause.json()["id"], "set": NEW, "key": "GB2026-6-1", "group": "安全管理",
        "text": "未建立消防安全责任制（转述）", "text_en": "", "complete": False, "order": 0,
    }  # fmt: skip
    read = api.get(f"/api/v1/criteria-sets/{pk}/").json()
    assert (read["loaded"], [c["key"] for c in read["clauses"]]) == (1, ["GB2026-6-1"])
    listed = api.get(f"/api/v1/criteria-clauses/?set={NEW}").json()
    assert (listed["count"], [c["key"] for c in listed["results"]]) == (1, ["GB2026-6-1"])
    assert api.get(f"/api/v1/criteria-clauses/?set={SEED}").json()["count"] == 7
    assert api.get("/api/v1/criteria-sets/").json()["count"] == 2

    patched = api.patch(f"/api/v1/criteria-sets/{pk}/", {"effective_on": "2027-01-01"}, format="json")
    assert patched.status_code == 200 and patched.json()["effective_on"] == "2027-01-01"
    assert patched.json()["title"] == "养老机构重大事故隐患判定准则"  # PATCH keeps what it does not send
    clause_id = clause.json()["id"]
    patched = api.patch(f"/api/v1/criteria-clauses/{clause_id}/", {"complete": True}, format="json")
    assert patched.status_code == 200 and (patched.json()["complete"], patched.json()["order"]) == (True, 0)
    moved = api.patch(f"/api/v1/criteria-clauses/{clause_id}/", {"set": SEED}, format="json")
    assert moved.status_code == 400 and (moved.json()["code"], moved.json()["field"]) == ("wrong_set", "set")
    assert Clause.objects.get(pk=clause_id).criteria_set.code == NEW

    assert actions("hazards.criteriaset") == ["criteria.set_create", "criteria.set_change"]
    assert actions("hazards.clause") == ["criteria.clause_create", "criteria.clause_change"]
    assert AuditEvent.objects.get(action="criteria.set_change").changes == {
        "effective_on": [None, "2027-01-01"]
    }


def test_a_set_of_22_situations_with_7_clauses_shows_7_of_22(client: Any, city_office: User) -> None:
    new_set(city_office, expected_items=22)
    api = api_as(city_office)
    for n in range(1, 8):
        response = api.post(
            "/api/v1/criteria-clauses/",
            {"set": NEW, "key": f"GB2026-4-{n}", "text": f"情形{n}"},
            format="json",
        )
        assert response.status_code == 201
    assert Clause.objects.filter(criteria_set__code=NEW).count() == 7
    page = login_client(client, city_office).get(CATALOGUE).content.decode()
    mine = section(page, NEW)
    assert 'data-completeness="7/22"' in mine
    assert gettext("%(loaded)s of %(expected)s situations loaded.") % {"loaded": 7, "expected": 22} in mine
    assert api.get(f"/api/v1/criteria-sets/{CriteriaSet.objects.get(code=NEW).pk}/").json()["loaded"] == 7


def test_a_duplicate_key_is_refused_and_nothing_is_written(client: Any, city_office: User) -> None:
    created = new_set(city_office)
    before = (Clause.objects.count(), AuditEvent.objects.filter(action="criteria.clause_create").count())
    c = login_client(client, city_office)
    response = c.post(
        f"/hazards/criteria/{created.pk}/clauses/new/",
        {"key": "MCA2023-4-1", "text": "重复的条款", "group": ""},
    )
    assert response.status_code == 400
    expected = gettext("Another clause already has the key %(key)s.") % {"key": "MCA2023-4-1"}
    assert field_errors(response.content.decode(), "key") == [expected]
    assert (
        Clause.objects.count(),
        AuditEvent.objects.filter(action="criteria.clause_create").count(),
    ) == before
    assert Clause.objects.get(key="MCA2023-4-1").criteria_set.code == SEED

    api = api_as(city_office)
    response = api.post(
        "/api/v1/criteria-clauses/", {"set": NEW, "key": "MCA2023-4-1", "text": "重复"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"code": "duplicate", "detail": expected, "field": "key"}
    bad = api.post("/api/v1/criteria-clauses/", {"set": NEW, "key": "gb-2026-1", "text": "x"}, format="json")
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (400, "invalid_key", "key")
    empty = api.post(
        "/api/v1/criteria-clauses/", {"set": NEW, "key": "GB2026-1", "text": "  "}, format="json"
    )
    assert empty.status_code == 400
    assert (
        Clause.objects.count(),
        AuditEvent.objects.filter(action="criteria.clause_create").count(),
    ) == before

    response = c.post("/hazards/criteria/new/", {**SET_FORM, "code": SEED})
    assert response.status_code == 400
    expected = gettext("Another criteria set already has the code %(code)s.") % {"code": SEED}
    assert field_errors(response.content.decode(), "code") == [expected]
    assert CriteriaSet.objects.count() == 2


def test_a_clause_a_hazard_refers_to_cannot_be_deleted(
    client: Any, city_office: User, institutions: dict[str, Any]
) -> None:
    used = Clause.objects.get(key="MCA2023-4-3")
    hazard = services.report(
        fresh(city_office), institutions["rc_elderly"], source="inspection", category="building", level="general",
        description="住宿楼为彩钢板房", clause=used,
    )  # fmt: skip
    assert (hazard.level, hazard.status) == ("major", "reported")
    c = login_client(client, city_office)
    url = f"/hazards/criteria/clauses/{used.pk}/delete/"
    refusal = gettext(
        "Hazards refer to clause %(key)s, so it cannot be deleted. Correct its text instead."
    ) % {"key": "MCA2023-4-3"}
    confirm = c.get(url).content.decode()
    assert refusal in confirm and "<form" not in confirm.split("<main", 1)[-1].split("</section>")[0]
    response = c.post(url, follow=True)
    assert response.redirect_chain == [(f"/hazards/criteria/#criteria-{SEED}", 302)]
    assert messages_of(response.content.decode(), "error") == [refusal]
    assert Clause.objects.filter(criteria_set__code=SEED).count() == 7
    hazard.refresh_from_db()
    assert (hazard.clause_id, hazard.status, hazard.level) == (used.pk, "reported", "major")

    api = api_as(city_office)
    response = api.delete(f"/api/v1/criteria-clauses/{used.pk}/")
    assert response.status_code == 400 and response.json() == {"code": "in_use", "detail": refusal}
    assert Clause.objects.filter(pk=used.pk).exists()
    with pytest.raises(DomainError) as caught:
        criteria.delete_clause(fresh(city_office), used)
    assert caught.value.code == "in_use"
    assert AuditEvent.objects.filter(action="criteria.clause_delete").count() == 0

    # A clause nothing refers to is deleted after the confirmation, and the deletion is audited. (The shipped
    # checklists link items to every loaded clause, which keeps those clauses: without them, these are unused.)
    ChecklistTemplate.objects.filter(items__clause__key__in=["MCA2023-5-2", "MCA2023-5-3"]).delete()
    unused = Clause.objects.get(key="MCA2023-5-3")
    assert "<form" in c.get(f"/hazards/criteria/clauses/{unused.pk}/delete/").content.decode()
    response = c.post(f"/hazards/criteria/clauses/{unused.pk}/delete/")
    assert response.status_code == 302 and not Clause.objects.filter(pk=unused.pk).exists()
    other = Clause.objects.get(key="MCA2023-5-2")
    assert api.delete(f"/api/v1/criteria-clauses/{other.pk}/").status_code == 204
    assert Clause.objects.filter(criteria_set__code=SEED).count() == 5
    deleted = list(
        AuditEvent.objects.filter(action="criteria.clause_delete")
        .order_by("id")
        .values_list("object_id", "detail")
    )
    assert deleted == [(str(unused.pk), f"{SEED} MCA2023-5-3"), (str(other.pk), f"{SEED} MCA2023-5-2")]
    gone = AuditEvent.objects.filter(action="criteria.clause_delete").order_by("id").first()
    assert gone is not None and gone.changes == {
        "clause": ["MCA2023-5-3", None], "group": ["安全生产相关资格资质不符合法定要求", None],
        "text": ["未取得相应资格的人员从事特种设备安全管理或作业。", None], "complete": [False, None],
        "order": [6, None], "text_en": [unused.text_en, None],
    }  # fmt: skip


def test_a_county_officer_reads_but_cannot_change_the_catalogue(
    client: Any, rencheng_officer: User, make_user: Any, tree: dict[str, Any]
) -> None:
    seed = CriteriaSet.objects.get(code=SEED)
    clause = Clause.objects.get(key="MCA2023-5-1")
    snapshot = (
        list(CriteriaSet.objects.values_list("code", "title", "superseded_by", "expected_items")),
        list(Clause.objects.order_by("pk").values_list("key", "text", "order")),
    )
    c = login_client(client, rencheng_officer)
    page = c.get(CATALOGUE)
    assert page.status_code == 200
    assert "/hazards/criteria/new/" not in page.content.decode() and "/edit/" not in page.content.decode()
    assert c.get("/hazards/criteria/new/").status_code == 403
    assert c.post("/hazards/criteria/new/", SET_FORM).status_code == 403
    assert c.post(f"/hazards/criteria/{seed.pk}/edit/", {**SET_FORM, "code": SEED}).status_code == 403
    assert c.post(f"/hazards/criteria/{seed.pk}/clauses/new/", {"key": "X-1", "text": "x"}).status_code == 403
    assert (
        c.post(f"/hazards/criteria/clauses/{clause.pk}/edit/", {"key": "X-1", "text": "x"}).status_code == 403
    )
    assert c.get(f"/hazards/criteria/clauses/{clause.pk}/delete/").status_code == 403
    assert c.post(f"/hazards/criteria/clauses/{clause.pk}/delete/").status_code == 403

    api = api_as(rencheng_officer)
    assert api.get("/api/v1/criteria-sets/").status_code == 200
    assert api.get(f"/api/v1/criteria-clauses/{clause.pk}/").json()["key"] == "MCA2023-5-1"
    writes = [
        api.post("/api/v1/criteria-sets/", {"code": NEW, "title": "x"}, format="json"),
        api.patch(f"/api/v1/criteria-sets/{seed.pk}/", {"title": "改"}, format="json"),
        api.post("/api/v1/criteria-clauses/", {"set": SEED, "key": "X-1", "text": "x"}, format="json"),
        api.patch(f"/api/v1/criteria-clauses/{clause.pk}/", {"text": "改"}, format="json"),
        api.delete(f"/api/v1/criteria-clauses/{clause.pk}/"),
    ]
    assert [r.status_code for r in writes] == [403] * 5
    assert {r.json()["code"] for r in writes} == {"permission_denied"}
    with pytest.raises(NotPermitted):
        criteria.save_set(fresh(rencheng_officer), seed, title="改")
    with pytest.raises(NotPermitted):
        criteria.delete_clause(fresh(rencheng_officer), clause)
    assert snapshot == (
        list(CriteriaSet.objects.values_list("code", "title", "superseded_by", "expected_items")),
        list(Clause.objects.order_by("pk").values_list("key", "text", "order")),
    )
    assert not AuditEvent.objects.filter(action__startswith="criteria.").exists()
    denied = AuditEvent.objects.filter(action="permission.denied", user=rencheng_officer)
    assert denied.count() == 12
    assert set(denied.values_list("object_type", flat=True)) == {"hazards.criteriaset", "hazards.clause"}

    nobody = make_user("nobody", roles=[], region=tree["rencheng"])
    assert api_as(nobody).get("/api/v1/criteria-sets/").status_code == 403
    assert APIClient().get("/api/v1/criteria-sets/").status_code in {401, 403}


def test_a_supersession_cycle_is_refused(client: Any, city_office: User) -> None:
    seed = CriteriaSet.objects.get(code=SEED)
    successor = new_set(city_office)
    criteria.save_set(fresh(city_office), seed, superseded_by=successor)
    # Through the page: the successor cannot be superseded by the set it supersedes.
    c = login_client(client, city_office)
    response = c.post(
        f"/hazards/criteria/{successor.pk}/edit/",
        {**set_form_values(successor), "superseded_by": seed.pk},
    )
    assert response.status_code == 400
    expected = gettext("%(code)s is already superseded, directly or through other sets, by this set.") % {
        "code": SEED
    }
    assert field_errors(response.content.decode(), "superseded_by") == [expected]
    successor.refresh_from_db()
    assert successor.superseded_by is None

    # Through the API: itself, and a longer cycle seed → successor → third → seed.
    api = api_as(city_office)
    itself = api.patch(f"/api/v1/criteria-sets/{successor.pk}/", {"superseded_by": NEW}, format="json")
    assert itself.status_code == 400
    assert (itself.json()["code"], itself.json()["field"]) == ("supersede_self", "superseded_by")
    third = new_set(city_office, code="local-jining-2027", expected_items=0, local=True)
    assert (
        api.patch(
            f"/api/v1/criteria-sets/{successor.pk}/", {"superseded_by": third.code}, format="json"
        ).json()["superseded_by"]
        == "local-jining-2027"
    )
    cycle = api.patch(f"/api/v1/criteria-sets/{third.pk}/", {"superseded_by": SEED}, format="json")
    assert cycle.status_code == 400 and (cycle.json()["code"], cycle.json()["field"]) == (
        "supersede_cycle",
        "superseded_by",
    )
    third.refresh_from_db()
    assert third.superseded_by is None
    assert actions("hazards.criteriaset") == [
        "criteria.set_create", "criteria.set_change", "criteria.set_create", "criteria.set_change",
    ]  # fmt: skip


def test_the_rules_of_a_set(city_office: User) -> None:
    actor = fresh(city_office)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"code": "bad code"}, "code", "invalid_code"),
        ({"title": "  "}, "title", "required"),
        ({"issued_on": dt.date(2026, 9, 1), "effective_on": dt.date(2026, 8, 31)}, "effective_on",
         "effective_before_issued"),
        ({"expected_items": 501}, "expected_items", "out_of_range"),
        ({"expected_items": -1}, "expected_items", "out_of_range"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ]  # fmt: skip
    for change, field, code in cases:
        with pytest.raises(DomainError) as caught:
            criteria.save_set(actor, None, **{"code": NEW, "title": "新标准", **change})
        assert (caught.value.field, caught.value.code) == (field, code)
    assert CriteriaSet.objects.count() == 1
    same_day = criteria.save_set(
        actor, None, code=NEW, title="新标准", issued_on=dt.date(2026, 9, 1), effective_on=dt.date(2026, 9, 1),
        expected_items=500,
    )  # fmt: skip
    assert (same_day.expected_items, same_day.effective_on) == (500, dt.date(2026, 9, 1))
    # Saving without a change writes nothing and records nothing.
    criteria.save_set(actor, same_day, title="新标准")
    assert actions("hazards.criteriaset") == ["criteria.set_create"]
    # Clauses are not capped by the expected items.
    small = criteria.save_set(actor, None, code="small", title="小标准", expected_items=1)
    for n in (1, 2):
        criteria.save_clause(actor, small, None, key=f"S-{n}", text=f"情形{n}")
    assert Clause.objects.filter(criteria_set=small).count() == 2


def test_hazards_keep_their_clause_when_the_set_is_superseded(city_office: User, institutions: Any) -> None:
    clause = Clause.objects.get(key="MCA2023-4-1")
    hazard = services.report(
        fresh(city_office), institutions["rc_elderly"], source="inspection", category="building", level="general",
        description="危房", clause=clause,
    )  # fmt: skip
    successor = new_set(city_office)
    criteria.save_set(
        fresh(city_office), CriteriaSet.objects.get(code=SEED), superseded_by=successor, active=False
    )
    hazard = Hazard.objects.get(pk=hazard.pk)
    assert (hazard.clause_id, hazard.level) == (clause.pk, "major")
    assert Clause.objects.filter(criteria_set__code=SEED).count() == 7
    assert reverse("hazards:criteria") == CATALOGUE
