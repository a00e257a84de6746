"""The registry: create and change institutions through the UI, API and registry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, OutOfScope
from minan.institutions import services
from minan.institutions.models import Commissioner, Institution, InstitutionChange, Subtype

pytestmark = pytest.mark.django_db


def form_data(tree: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "任城区颐养测试养老院",
        "kind": "elderly_care",
        "region": tree["rc_town"].pk,
        "uscc": "52370811551385082E",
        "beds": 120,
        "residents": 80,
        "staff_count": 20,
        "filing_status": "filed",
        "fire_acceptance": "accepted",
        "star_grade": 2,
        "status": "operating",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "uscc",
    [
        "91110108551385082Q",
        "52370811551385082E",
        "12370800551385082L",
        "N2370811551385082W",
        "Y1370811551385082P",
    ],
)
def test_valid_codes_of_every_form_are_accepted(rencheng_officer: Any, tree: Any, uscc: str) -> None:
    institution = services.create_institution(
        rencheng_officer, name="测试机构", kind="elderly_care", region=tree["rencheng"], uscc=uscc.lower()
    )
    assert institution.uscc == uscc


def test_wrong_check_character_is_refused_naming_the_expected_one(rencheng_officer: Any, tree: Any) -> None:
    with pytest.raises(DomainError) as info:
        services.create_institution(
            rencheng_officer,
            name="测试机构",
            kind="elderly_care",
            region=tree["rencheng"],
            uscc="91110108551385082A",
        )
    assert info.value.field == "uscc" and "Q" in info.value.message
    assert not Institution.objects.filter(name="测试机构").exists()
    assert not AuditEvent.objects.filter(action="institution.create").exists()


def test_ui_create_shows_the_expected_check_character(client: Any, rencheng_officer: Any, tree: Any) -> None:
    login_client(client, rencheng_officer)
    response = client.post(reverse("institutions:create"), form_data(tree, uscc="91110108551385082A"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "校验码" in page and "Q" in page
    assert not Institution.objects.filter(name="任城区颐养测试养老院").exists()


def test_ui_create_then_edit_keeps_history(client: Any, rencheng_officer: Any, tree: Any) -> None:
    login_client(client, rencheng_officer)
    response = client.post(reverse("institutions:create"), form_data(tree))
    assert response.status_code == 302
    institution = Institution.objects.get(name="任城区颐养测试养老院")
    assert institution.region_path == "370000/370800/370811/370811001/" and institution.risk_class is not None
    response = client.post(reverse("institutions:edit", args=[institution.pk]), form_data(tree, beds=150))
    assert response.status_code == 302
    institution.refresh_from_db()
    assert institution.beds == 150
    actions = list(InstitutionChange.objects.filter(institution=institution).values_list("action", flat=True))
    assert "create" in actions and "update" in actions
    update = InstitutionChange.objects.filter(institution=institution, action="update").get()
    assert update.changes == {"beds": [120, 150]} and update.user == rencheng_officer
    assert AuditEvent.objects.filter(action="institution.update", object_id=str(institution.pk)).count() == 1
    history = client.get(
        reverse("institutions:detail", args=[institution.pk]) + "?tab=history"
    ).content.decode()
    assert "beds" in history and "150" in history


@pytest.mark.parametrize(
    ("overrides", "field_text"),
    [
        ({"residents": 500}, "床位"),
        ({"region": "tree:city"}, "县级"),
        ({"construction_year": 2999}, ""),
        ({"star_grade": 7}, ""),
        ({"name": ""}, ""),
        ({"contact_phone": "12345"}, "0537"),
    ],
)
def test_bad_input_writes_nothing(
    client: Any, rencheng_officer: Any, tree: Any, overrides: dict[str, Any], field_text: str
) -> None:
    if overrides.get("region") == "tree:city":
        overrides["region"] = tree["city"].pk
    login_client(client, rencheng_officer)
    response = client.post(reverse("institutions:create"), form_data(tree, **overrides))
    assert response.status_code == 400
    assert field_text in response.content.decode()
    assert Institution.objects.count() == 0 and InstitutionChange.objects.count() == 0


def test_subtype_must_match_kind(rencheng_officer: Any, tree: Any) -> None:
    with pytest.raises(DomainError) as info:
        services.create_institution(
            rencheng_officer, name="x", kind="elderly_care", region=tree["rencheng"],
            subtype=Subtype.objects.get(code="funeral_home"),
        )  # fmt: skip
    assert info.value.field == "subtype"


def test_cannot_create_or_move_into_another_county(
    rencheng_officer: Any, tree: Any, institutions: Any
) -> None:
    with pytest.raises(OutOfScope):
        services.create_institution(rencheng_officer, name="x", kind="elderly_care", region=tree["zc_town"])
    own = institutions["rc_elderly"]
    with pytest.raises(OutOfScope):
        services.update_institution(rencheng_officer, own, region=tree["zc_town"])
    own.refresh_from_db()
    assert own.region == tree["rc_town"]
    with pytest.raises(OutOfScope):
        services.update_institution(rencheng_officer, institutions["zc_elderly"], beds=1)


def test_commissioners_and_missing_flag(
    client: Any, rencheng_officer: Any, make_user: Any, tree: Any, institutions: Any
) -> None:
    institution = institutions["rc_elderly"]
    people = [make_user(f"p{i}", region=tree["rencheng"]) for i in range(4)]
    for role, person in zip(Commissioner.Role.values, people, strict=True):
        services.set_commissioner(rencheng_officer, institution, role, person)
    login_client(client, rencheng_officer)
    missing = client.get(reverse("institutions:list") + "?missing_commissioners=1").content.decode()
    assert "任城区古槐敬老院" not in missing and "任城区殡仪馆" in missing
    outsider = make_user("outsider", region=tree["zoucheng"])
    with pytest.raises(DomainError):
        services.set_commissioner(rencheng_officer, institution, "safety", outsider)
    assert Commissioner.objects.get(institution=institution, role="safety").user == people[1]


def test_insurance_and_uninsured_filter(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    today = timezone.localdate()
    insured = institutions["rc_elderly"]
    services.add_policy(
        rencheng_officer, insured,
        services.PolicyData("中国人民财产保险", "P-1", Decimal("1000000"), today - timedelta(days=10), today + timedelta(days=300)),
    )  # fmt: skip
    with pytest.raises(DomainError):
        services.add_policy(
            rencheng_officer, insured,
            services.PolicyData("中国人民财产保险", "P-2", Decimal("1"), today, today - timedelta(days=1)),
        )  # fmt: skip
    assert insured.policies.count() == 1
    login_client(client, rencheng_officer)
    page = client.get(reverse("institutions:list") + "?uninsured=1").content.decode()
    assert "任城区殡仪馆" in page and "任城区古槐敬老院" not in page


def test_list_filters_search_and_sort(client: Any, city_office: Any, institutions: Any) -> None:
    Institution.objects.filter(pk=institutions["zc_elderly"].pk).update(
        beds=300, star_grade=4, uscc="52370811551385082E"
    )
    login_client(client, city_office)
    page = client.get(reverse("institutions:list") + "?q=52370811551385082E").content.decode()
    assert "邹城市钢山养老中心" in page and "任城区古槐敬老院" not in page
    page = client.get(reverse("institutions:list") + "?star=4").content.decode()
    import re

    assert len(re.findall(r'href="/institutions/\d+/"', page)) == 1
    page = client.get(reverse("institutions:list") + "?sort=-beds").content.decode()
    assert page.index("邹城市钢山养老中心") < page.index("任城区古槐敬老院")
    page = client.get(reverse("institutions:list") + "?region=370811&kind=funeral").content.decode()
    assert "任城区殡仪馆" in page and "任城区古槐敬老院" not in page


def test_detail_tabs_render_in_chinese(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    login_client(client, rencheng_officer)
    url = reverse("institutions:detail", args=[institutions["rc_elderly"].pk])
    expected = {
        "facts": "统一社会信用代码",
        "commissioners": "服务质量专员",
        "insurance": "保险",
        "code": "/p/",
        "history": "历史",
    }
    for tab, text in expected.items():
        page = client.get(f"{url}?tab={tab}").content.decode()
        assert text in page, tab


def test_api_filters_create_and_errors(rencheng_officer: Any, tree: Any, institutions: Any) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    rows = api.get("/api/v1/institutions/?kind=funeral").json()["results"]
    assert [r["name"] for r in rows] == ["任城区殡仪馆"]
    bad = api.post(
        "/api/v1/institutions/",
        {"name": "接口机构", "kind": "elderly_care", "region": "370811001", "uscc": "91110108551385082A"},
        format="json",
    )
    assert (
        bad.status_code == 400 and "uscc" in bad.json()["errors"] and "Q" in str(bad.json()["errors"]["uscc"])
    )
    other = api.post(
        "/api/v1/institutions/",
        {"name": "接口机构", "kind": "elderly_care", "region": "370883001"},
        format="json",
    )
    assert other.status_code == 400 and "region" in other.json()["errors"]
    ok = api.post(
        "/api/v1/institutions/",
        {"name": "接口机构", "kind": "elderly_care", "region": "370811001", "uscc": "n2370811551385082w", "beds": 10,
         "contact_phone": "13912345678"},
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201 and ok.json()["uscc"] == "N2370811551385082W"
    assert ok.json()["contact_phone"] == "139****5678" and ok.json()["risk_class"] is not None
    pk = ok.json()["id"]
    patched = api.patch(f"/api/v1/institutions/{pk}/", {"beds": 12}, format="json")
    assert patched.status_code == 200 and patched.json()["beds"] == 12
    assert (
        api.patch(
            f"/api/v1/institutions/{institutions['zc_elderly'].pk}/", {"beds": 1}, format="json"
        ).status_code
        == 404
    )


def test_api_changes_an_institution_with_patch_and_offers_no_put(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    home = institutions["rc_elderly"]
    url = f"/api/v1/institutions/{home.pk}/"
    full = {"name": "全量替换敬老院", "kind": "elderly_care", "region": "370811001", "beds": 30}
    put = api.put(url, full, format="json")
    assert put.status_code == 405 and put["Allow"] == "GET, PATCH, HEAD, OPTIONS"
    home.refresh_from_db()
    assert home.name == "任城区古槐敬老院"
    patched = api.patch(url, {"beds": 30}, format="json")
    assert patched.status_code == 200 and patched.json()["beds"] == 30
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    operations = schema["paths"]["/api/v1/institutions/{id}/"]
    assert {m for m in operations if m != "parameters"} == {"get", "patch"}


def test_home_counts_by_county(client: Any, city_office: Any, institutions: Any) -> None:
    login_client(client, city_office)
    page = client.get("/").content.decode()
    assert 'id="by-county"' in page and "任城区" in page and "邹城市" in page


def test_insurance_overview_rate_and_expiring(client: Any, rencheng_officer: Any, institutions: Any) -> None:
    today = timezone.localdate()
    services.add_policy(
        None, institutions["rc_elderly"],
        services.PolicyData("人保", "E-1", Decimal("1000000"), today - timedelta(days=300), today + timedelta(days=10)),
    )  # fmt: skip
    services.add_policy(
        None, institutions["zc_elderly"],
        services.PolicyData("人保", "E-2", Decimal("1000000"), today - timedelta(days=300), today + timedelta(days=5)),
    )  # fmt: skip
    login_client(client, rencheng_officer)
    page = client.get(reverse("institutions:insurance")).content.decode()
    # 任城区: 2 operating, 1 insured; the 邹城市 policy is not in this officer's list.
    assert 'data-figure="coverage">50.0%<' in page and 'data-figure="expiring">1<' in page
    assert "E-1" in page and "E-2" not in page


def test_configurable_lists_are_edited_by_the_system_administrator(
    client: Any, make_user: Any, tree: Any, city_office: Any
) -> None:
    sysadmin = make_user("sys", roles=["system_admin"], region=tree["city"])
    login_client(client, sysadmin)
    response = client.post(
        reverse("institutions:lists"), {"list": "subtype", "kind": "elderly_care", "code": "day_care", "name": "日间照料中心", "order": 9, "active": "on"}
    )  # fmt: skip
    assert response.status_code == 302 and Subtype.objects.get(code="day_care").name == "日间照料中心"
    assert AuditEvent.objects.filter(action="subtype.change", username="sys").count() == 1
    bad = client.post(
        reverse("institutions:lists"), {"list": "ownership", "code": "bad code", "name": "x", "order": 0}
    )
    assert bad.status_code == 400
    login_client(client, city_office)
    client.post(
        reverse("institutions:lists"),
        {"list": "subtype", "kind": "funeral", "code": "x1", "name": "x", "order": 0},
    )
    assert not Subtype.objects.filter(code="x1").exists()
