"""一行一册 ledger export, assignments from xlsx, and assignment writes through the API."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.urls import reverse
from openpyxl import Workbook, load_workbook
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.xlsx import ImportRefused
from minan.duty import importer, services
from minan.duty.models import DutyAssignment
from minan.institutions.models import Commissioner, Institution, Subtype


@pytest.fixture
def cadres(make_user: Any, tree: dict[str, Any]) -> list[User]:
    people = [make_user(f"cadre{i}", roles=["cadre"], region=tree["rencheng"]) for i in range(2)]
    UserScope.objects.filter(user__in=people).delete()
    User.objects.filter(pk=people[0].pk).update(phone="13800001234")
    return [User.objects.get(pk=p.pk) for p in people]


def xlsx(rows: list[list[Any]], headers: list[str] | None = None) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(headers or ["统一社会信用代码", "机构名称", "包保干部账号*", "开始日期"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    return buffer


# --- ledger ---------------------------------------------------------------------------------------------------


@pytest.fixture
def more_homes(tree: dict[str, Any]) -> list[Institution]:
    subtypes = list(Subtype.objects.filter(kind="elderly_care"))  # each a different row: guards N+1 reads
    return [
        Institution.objects.create(
            name=f"邹城市第{i}敬老院",
            kind="elderly_care",
            region=tree["zc_town"],
            region_path=tree["zc_town"].region_path,
            subtype=subtypes[i],
        )  # fmt: skip
        for i in range(3)
    ] + [
        Institution.objects.create(
            name="邹城市已关停敬老院",
            kind="elderly_care",
            region=tree["zc_town"],
            region_path=tree["zc_town"].region_path,
            status="closed",
        )  # fmt: skip
    ]


@pytest.mark.django_db
def test_ledger_export_has_one_sheet_per_county_with_correct_counts(
    city_office: Any, cadres: list[User], institutions: Any, more_homes: Any, client: Any,
    django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    services.assign_cadre(city_office, institutions["rc_elderly"], cadres[0])
    Commissioner.objects.create(institution=institutions["rc_elderly"], role="safety", user=cadres[1],
                                region_path=institutions["rc_elderly"].region_path)  # fmt: skip
    c = login_client(client, city_office)
    with django_assert_max_num_queries(20):
        response = c.get(reverse("duty:ledger_export") + "?kind=elderly_care")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.content))
    assert wb.sheetnames == ["任城区", "邹城市"]
    rencheng, zoucheng = wb["任城区"], wb["邹城市"]
    assert rencheng.max_row == 2 and zoucheng.max_row == 5  # header + 1; header + 4 (closed one left out)
    header = [cell.value for cell in rencheng[1]]
    row = dict(zip(header, [cell.value for cell in rencheng[2]], strict=True))
    assert row["机构名称"] == "任城区古槐敬老院"
    assert row["包保干部"] == "cadre0"
    assert row["包保干部电话"] == "138****1234"  # masked
    assert row["安全专员"] == "cadre1"
    assert row["服务质量专员"] is None
    assert AuditEvent.objects.filter(action="export", object_type="duty.dutyassignment").count() == 1


@pytest.mark.django_db
def test_ledger_follows_scope_and_permission(
    rencheng_officer: Any, cadres: list[User], city_office: Any, institutions: Any, client: Any
) -> None:
    response = login_client(client, rencheng_officer).get(
        reverse("duty:ledger_export") + "?kind=elderly_care"
    )
    assert load_workbook(io.BytesIO(response.content)).sheetnames == ["任城区"]
    services.assign_cadre(city_office, institutions["rc_elderly"], cadres[0])
    # A cadre has no export permission: 403, and nothing exported.
    assert login_client(client, cadres[0]).get(reverse("duty:ledger_export")).status_code == 403
    assert AuditEvent.objects.filter(action="export").count() == 1
    page = (
        login_client(client, rencheng_officer).get(reverse("duty:ledger") + "?kind=funeral").content.decode()
    )
    assert "任城区殡仪馆" in page and "邹城市" not in page


# --- import ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_assigns_every_row(city_office: Any, cadres: list[User], institutions: Any) -> None:
    Institution.objects.filter(pk=institutions["rc_elderly"].pk).update(uscc="12370800MB1234567X")
    services.assign_cadre(city_office, institutions["zc_elderly"], cadres[1])
    file = xlsx([
        ["12370800mb1234567x", "", "cadre0", "2026-03-01"],
        ["", "任城区殡仪馆", "cadre1", None],
        ["", "邹城市钢山养老中心", "cadre1", ""],  # already in place
    ])  # fmt: skip
    outcome = importer.import_assignments(city_office, file, "a.xlsx")
    assert (outcome.assigned, outcome.unchanged) == (2, 1)
    active = dict(
        DutyAssignment.objects.filter(active=True).values_list("institution__name", "cadre__username")
    )
    assert active == {"任城区古槐敬老院": "cadre0", "任城区殡仪馆": "cadre1", "邹城市钢山养老中心": "cadre1"}
    assert DutyAssignment.objects.get(institution=institutions["rc_elderly"]).starts_on == dt.date(2026, 3, 1)
    assert AuditEvent.objects.filter(action="duty.import").count() == 1


@pytest.mark.django_db
def test_import_with_one_bad_row_assigns_nothing(
    rencheng_officer: Any, cadres: list[User], institutions: Any
) -> None:
    file = xlsx([
        ["", "任城区古槐敬老院", "cadre0", ""],
        ["", "邹城市钢山养老中心", "cadre0", ""],  # another county: outside the officer's scope
        ["", "任城区殡仪馆", "nobody", "2026-02-30"],
        ["", "任城区古槐敬老院", "cadre1", ""],  # same institution twice
    ])  # fmt: skip
    with pytest.raises(ImportRefused) as caught:
        importer.import_assignments(rencheng_officer, file, "a.xlsx")
    assert [(e.line, e.column) for e in caught.value.errors] == [
        (3, "机构名称"), (4, "包保干部账号"), (4, "开始日期"), (5, "机构名称"),
    ]  # fmt: skip
    assert not DutyAssignment.objects.exists()
    with pytest.raises(ImportRefused) as caught:
        importer.import_assignments(rencheng_officer, xlsx([["x"]], headers=["名称"]), "a.xlsx")
    assert "包保干部账号" in {e.column for e in caught.value.errors}
    with pytest.raises(ImportRefused):
        importer.import_assignments(rencheng_officer, io.BytesIO(b"not a workbook"), "a.csv")


@pytest.mark.django_db
def test_import_page_and_template(
    city_office: Any, cadres: list[User], institutions: Any, client: Any
) -> None:
    c = login_client(client, city_office)
    template = load_workbook(io.BytesIO(c.get(reverse("duty:import") + "?template=1").content))
    assert [cell.value for cell in template.worksheets[0][1]] == importer.HEADERS
    assert [r[0] for r in template["包保干部"].iter_rows(min_row=2, values_only=True)] == ["cadre0", "cadre1"]
    upload = xlsx([["", "任城区殡仪馆", "cadre0", ""]])
    upload.name = "a.xlsx"
    response = c.post(reverse("duty:import"), {"file": upload})
    assert response.status_code == 302
    assert DutyAssignment.objects.get(active=True).cadre == cadres[0]
    bad = xlsx([["", "不存在的机构", "cadre0", ""]])
    bad.name = "b.xlsx"
    response = c.post(reverse("duty:import"), {"file": bad})
    page = response.content.decode()
    assert "import-errors" in page and DutyAssignment.objects.count() == 1
    assert "import_errors.html" in {t.name for t in response.templates}


# --- API writes -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_assignment_api_assigns_and_ends(
    rencheng_officer: Any, cadres: list[User], institutions: Any, make_user: Any
) -> None:
    api = APIClient()
    api.force_authenticate(rencheng_officer)
    home = institutions["rc_elderly"]
    created = api.post(
        "/api/v1/duty-assignments/", {"institution": home.pk, "cadre": cadres[0].pk}, format="json"
    )
    assert created.status_code == 201 and created.json()["active"] is True
    again = api.post(
        "/api/v1/duty-assignments/", {"institution": home.pk, "cadre": cadres[0].pk}, format="json"
    )
    assert again.status_code == 400 and again.json()["code"] == "duplicate"
    other_county = api.post(
        "/api/v1/duty-assignments/",
        {"institution": institutions["zc_elderly"].pk, "cadre": cadres[0].pk},
        format="json",
    )
    assert other_county.status_code == 404
    pk = created.json()["id"]
    assert api.post(f"/api/v1/duty-assignments/{pk}/end/", {}, format="json").status_code == 400
    ended = api.post(f"/api/v1/duty-assignments/{pk}/end/", {"reason": "调岗"}, format="json")
    assert (
        ended.status_code == 200 and ended.json()["active"] is False and ended.json()["end_reason"] == "调岗"
    )
    assert not DutyAssignment.objects.filter(active=True).exists()
    # A cadre may read but not assign: 403, nothing changed.
    api.force_authenticate(cadres[1])
    refused = api.post(
        "/api/v1/duty-assignments/", {"institution": home.pk, "cadre": cadres[1].pk}, format="json"
    )
    assert refused.status_code == 403
    assert DutyAssignment.objects.count() == 1


@pytest.mark.django_db
def test_a_large_ledger_is_shown_one_county_at_a_time(
    city_office: Any, institutions: Any, more_homes: Any, client: Any, monkeypatch: Any
) -> None:
    from minan.duty.views import ledger

    c = login_client(client, city_office)
    page = c.get(reverse("duty:ledger") + "?kind=elderly_care").context
    assert page["county_choices"] == [("370811", "任城区", 1), ("370883", "邹城市", 4)]
    assert list(page["tables"]) == ["任城区", "邹城市"] and not page["choose_county"]
    monkeypatch.setattr(ledger, "LEDGER_PAGE_ROWS", 3)
    page = c.get(reverse("duty:ledger") + "?kind=elderly_care").context
    assert page["choose_county"] and page["tables"] == {}
    page = c.get(reverse("duty:ledger") + "?kind=elderly_care&county=370883").context
    assert list(page["tables"]) == ["邹城市"] and len(page["tables"]["邹城市"]) == 4
    # A county outside the choices is ignored, not trusted.
    page = c.get(reverse("duty:ledger") + "?kind=elderly_care&county=370000").context
    assert page["county"] == "" and page["choose_county"]
