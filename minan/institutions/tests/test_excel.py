"""Excel import and export of the registry: template, all-or-nothing import, scope, export, progress."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from conftest import login_client
from minan.accounts import roles
from minan.core import scoping
from minan.core import xlsx as core_xlsx
from minan.core.audit.models import AuditEvent
from minan.core.errors import NotPermitted
from minan.core.export import XLSX
from minan.core.identifiers import uscc_check_character
from minan.core.xlsx import ImportRefused
from minan.institutions.imports import services as imports
from minan.institutions.imports import xlsx as excel
from minan.institutions.imports.services import import_institutions
from minan.institutions.imports.xlsx import COLUMNS, HEADERS, parse_rows
from minan.institutions.models import Institution, InstitutionChange, Ownership, Subtype
from minan.institutions.services import FACT_FIELDS

pytestmark = pytest.mark.django_db

PERMISSION = "institutions.import_institution"


@pytest.fixture(autouse=True)
def _import_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    """County officers and the city safety office import (granted here whatever roles.py says)."""
    for role in (roles.COUNTY_OFFICER, roles.CITY_SAFETY_OFFICE):
        monkeypatch.setitem(roles.ROLE_PERMISSIONS, role, roles.ROLE_PERMISSIONS[role] | {PERMISSION})


@pytest.fixture(autouse=True)
def _lists(db: Any) -> None:
    """The configurable lists the rows use (seeded by a migration; a transactional test may flush them)."""
    Subtype.objects.get_or_create(
        code="elderly_home", defaults={"kind": "elderly_care", "name": "养老院 / 养老中心"}
    )
    Subtype.objects.get_or_create(code="funeral_home", defaults={"kind": "funeral", "name": "殡仪馆"})
    Ownership.objects.get_or_create(code="private", defaults={"name": "民办"})


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def uscc(n: int, county: str = "370811") -> str:
    first17 = f"52{county}{n:08d}1"
    return first17 + uscc_check_character(first17)


def good_row(n: int, region: str = "370811001") -> dict[str, Any]:
    return {
        "name": f"测试养老院{n:04d}",
        "kind": "养老服务",
        "subtype": "elderly_home",
        "ownership": "民办",
        "uscc": uscc(n),
        "region": region,
        "address": f"济宁市任城区测试路{n}号",
        "contact_name": "王五",
        "contact_phone": "0537-1234567",
        "beds": 100,
        "residents": 60,
        "staff_count": 12,
        "opened_on": datetime(2015, 6, 1),
        "filing_status": "filed",
        "fire_acceptance": "accepted",
        "building_floors": 3,
        "building_structure": "reinforced_concrete",
        "construction_year": 2012,
        "star_grade": 2,
        "star_grade_date": "2023-05-10",
        "fire_standardised": "是",
        "fire_standardised_date": "2024-01-15",
        "latitude": 35.41,
        "longitude": 116.59,
        "status": "正常运营",
    }


def xlsx(rows: list[dict[str, Any]], headers: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(headers or HEADERS)
    for row in rows:
        ws.append([row.get(field) for field, _header in COLUMNS])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def twenty_rows() -> list[dict[str, Any]]:
    return [good_row(n) for n in range(1, 21)]


def three_bad(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    bad = [dict(row) for row in rows]
    code = bad[4]["uscc"]
    wrong = "0" if code[-1] != "0" else "1"
    bad[4]["uscc"] = code[:-1] + wrong  # line 6: wrong check character
    bad[9]["region"] = "370899999"  # line 11: no such region
    bad[14]["beds"] = "abc"  # line 16: not a number
    return bad


def lines(exc: pytest.ExceptionInfo[ImportRefused]) -> list[int]:
    return [error.line for error in exc.value.errors]


def upload(data: bytes, name: str = "机构.xlsx", content_type: str = XLSX) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- template -------------------------------------------------------------------------------------------


def test_template_has_the_headers_instructions_and_drop_downs(db: Any) -> None:
    wb = load_workbook(io.BytesIO(excel.template_bytes()))
    sheet = wb.worksheets[0]
    assert [cell.value for cell in sheet[1]] == HEADERS
    assert HEADERS[:2] == ["机构名称*", "机构类型*"] and "所属区划代码*" in HEADERS
    assert len(HEADERS) == 26
    instructions = wb["填写说明"]
    explained = [row[0] for row in instructions.iter_rows(min_row=2, max_row=27, values_only=True)]
    assert explained == [header.rstrip("*") for header in HEADERS]
    text = " ".join(str(v) for row in instructions.iter_rows(values_only=True) for v in row if v)
    for label in ("养老服务", "儿童福利", "殡葬服务", "正常运营", "暂停运营", "已关停", "已备案", "无需备案"):
        assert label in text
    for field in excel.CHOICE_FIELDS:  # the labels are the models' Chinese translations
        assert all(label in text for _code, label in excel.choice_labels(field))
    assert len(sheet.data_validations.dataValidation) >= 8
    options = [v for row in wb["选项"].iter_rows(values_only=True) for v in row if v]
    assert "养老服务" in options and "民办" in options


def test_template_for_a_user_lists_only_their_region_codes(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    login_client(client, rencheng_officer)
    response = client.get(reverse("institutions:import_template"))
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    wb = load_workbook(io.BytesIO(response.content))
    codes = [row[0] for row in wb["区划代码"].iter_rows(min_row=2, values_only=True)]
    assert codes == ["370811", "370811001"]


# --- reading ------------------------------------------------------------------------------------------


def test_parse_rows_keeps_file_line_numbers_and_matches_headers_by_text(db: Any) -> None:
    headers = [h.rstrip("*") for h in reversed(HEADERS)]  # any order, with or without the star
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(headers)
    ws.append([])  # blank lines are skipped but counted
    row = good_row(1)
    ws.append([row.get(field) for field, _header in reversed(COLUMNS)])
    buffer = io.BytesIO()
    wb.save(buffer)
    rows = parse_rows(buffer.getvalue(), "a.xlsx")
    assert len(rows) == 1 and rows[0]["line"] == 3 and rows[0]["name"] == "测试养老院0001"


def test_every_row_is_read_whatever_the_dimension_tag_claims(db: Any) -> None:
    import re
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx(twenty_rows()[:3])))
    patched = io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:Z2"', content)
            target.writestr(item, content)
    data = patched.getvalue()
    assert core_xlsx.row_count_hint(data) == 1  # the tag claims one data row
    assert [row["line"] for row in parse_rows(data, "a.xlsx")] == [2, 3, 4]


@pytest.mark.parametrize(
    ("data", "name", "fragment"),
    [
        (b"name,kind\n", "institutions.csv", ".xlsx"),
        (b"not a zip", "institutions.xlsx", "XLSX"),
    ],
)
def test_non_xlsx_files_are_refused(db: Any, data: bytes, name: str, fragment: str) -> None:
    with pytest.raises(ImportRefused) as info:
        parse_rows(data, name)
    assert lines(info) == [0] and fragment in info.value.errors[0].message


def test_missing_required_column_is_refused(db: Any) -> None:
    headers = [h for h in HEADERS if h != "所属区划代码*"]
    with pytest.raises(ImportRefused) as info:
        parse_rows(xlsx([], headers), "a.xlsx")
    assert [(e.line, e.column) for e in info.value.errors] == [(1, "所属区划代码")]


def test_file_limits(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(excel, "MAX_ROWS", 3)
    with pytest.raises(ImportRefused) as info:
        parse_rows(xlsx(twenty_rows()[:4]), "a.xlsx")
    assert lines(info) == [0] and "3" in info.value.errors[0].message
    monkeypatch.setattr(core_xlsx, "MAX_UNPACKED_BYTES", 1000)  # a zip bomb is refused before it is read
    with pytest.raises(ImportRefused) as info:
        parse_rows(xlsx(twenty_rows()[:1]), "a.xlsx")
    assert lines(info) == [0]
    monkeypatch.setattr(core_xlsx, "MAX_FILE_BYTES", 100)
    with pytest.raises(ImportRefused) as info:
        parse_rows(xlsx(twenty_rows()[:1]), "a.xlsx")
    assert "MB" in info.value.errors[0].message


# --- import: all or nothing ----------------------------------------------------------------------------


def test_three_bad_rows_import_nothing_and_are_reported_with_reasons(city_office: Any, tree: Any) -> None:
    before = Institution.objects.count()
    rows = parse_rows(xlsx(three_bad(twenty_rows())), "bad.xlsx")
    with pytest.raises(ImportRefused) as info:
        import_institutions(city_office, rows, filename="bad.xlsx")
    errors = info.value.errors
    assert lines(info) == [6, 11, 16]
    by_line = {e.line: e for e in errors}
    assert by_line[6].column == "统一社会信用代码" and uscc(5)[-1] in by_line[6].message
    assert by_line[11].column == "所属区划代码" and "370899999" in by_line[11].message
    assert by_line[16].column == "床位数" and "abc" in by_line[16].message
    assert Institution.objects.count() == before
    assert not AuditEvent.objects.filter(action="institution.import").exists()
    assert not InstitutionChange.objects.filter(action="import").exists()


def test_the_corrected_file_imports_every_row(city_office: Any, tree: Any) -> None:
    before = Institution.objects.count()
    calls: list[tuple[int, int]] = []
    rows = parse_rows(xlsx(twenty_rows()), "good.xlsx")
    result = import_institutions(
        city_office, rows, filename="good.xlsx", progress=lambda d, t: calls.append((d, t))
    )
    assert result.created == 20
    assert Institution.objects.count() == before + 20
    assert AuditEvent.objects.filter(action="institution.import").count() == 1
    event = AuditEvent.objects.get(action="institution.import")
    assert event.user == city_office and event.detail == "20 rows from good.xlsx"
    assert InstitutionChange.objects.filter(action="import", user=city_office).count() == 20
    first = Institution.objects.get(name="测试养老院0001")
    assert first.region_path == "370000/370800/370811/370811001/"
    assert first.kind == "elderly_care" and first.subtype == Subtype.objects.get(code="elderly_home")
    assert first.ownership is not None and first.ownership.code == "private"
    assert (first.uscc, first.beds, first.residents, first.star_grade) == (uscc(1), 100, 60, 2)
    assert first.opened_on == date(2015, 6, 1) and first.star_grade_date == date(2023, 5, 10)
    assert first.fire_standardised and first.filing_status == "filed" and first.status == "operating"
    assert str(first.latitude) == "35.410000"
    change = InstitutionChange.objects.get(institution=first, action="import")
    assert change.changes["name"] == [None, "测试养老院0001"]
    assert calls[-1] == (40, 40)


def test_codes_and_english_labels_are_accepted_too(city_office: Any, tree: Any) -> None:
    row = good_row(1) | {
        "kind": "elderly_care",
        "status": "Suspended",
        "fire_standardised": "否",
        "subtype": None,
    }
    row["fire_acceptance"] = "不详"  # the spelling of the issue, whatever the .po calls it
    row["ownership"] = "private"
    import_institutions(city_office, parse_rows(xlsx([row]), "a.xlsx"), filename="a.xlsx")
    institution = Institution.objects.get(name="测试养老院0001")
    assert (institution.status, institution.fire_standardised) == ("suspended", False)
    assert institution.fire_acceptance == "unknown"


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"beds": -1}, "床位数"),
        ({"beds": 20001}, "床位数"),
        ({"star_grade": 6}, "星级"),
        ({"residents": 101}, "在院人数"),  # more residents than beds in elderly care (services rule)
        ({"opened_on": "2015/6/1"}, "开业日期"),
        ({"latitude": 91}, "纬度"),
        ({"kind": "福利"}, "机构类型"),
        ({"subtype": "funeral_home"}, "机构子类型"),  # belongs to another kind (services rule)
        ({"name": None}, "机构名称"),
        ({"region": "370811"}, None),  # a county is fine
        ({"region": "370800"}, "所属区划代码"),  # a city is not (services rule)
        ({"construction_year": 2999}, "建成年份"),
    ],
)
def test_each_rule_names_its_column(
    city_office: Any, tree: Any, changes: dict[str, Any], column: str
) -> None:
    rows = parse_rows(xlsx([good_row(1), good_row(2) | changes]), "a.xlsx")
    if column is None:
        assert import_institutions(city_office, rows, filename="a.xlsx").created == 2
        return
    with pytest.raises(ImportRefused) as info:
        import_institutions(city_office, rows, filename="a.xlsx")
    assert [(e.line, e.column) for e in info.value.errors] == [(3, column)]


def test_every_problem_of_a_row_is_reported(city_office: Any, tree: Any) -> None:
    row = good_row(1) | {"beds": "abc", "star_grade": 9, "status": "unknown", "region": "1"}
    with pytest.raises(ImportRefused) as info:
        import_institutions(city_office, parse_rows(xlsx([row]), "a.xlsx"), filename="a.xlsx")
    assert [e.column for e in info.value.errors] == ["所属区划代码", "床位数", "星级", "运营状态"]


def test_a_county_officer_cannot_import_another_countys_institution(
    rencheng_officer: Any, tree: Any, institutions: Any
) -> None:
    rows = twenty_rows()
    rows[7]["region"] = "370883001"  # 邹城市钢山街道, line 9
    before = Institution.objects.count()
    with pytest.raises(ImportRefused) as info:
        import_institutions(rencheng_officer, parse_rows(xlsx(rows), "a.xlsx"), filename="a.xlsx")
    assert lines(info) == [9]
    assert info.value.errors[0].column == "所属区划代码" and "370883001" in info.value.errors[0].message
    assert Institution.objects.count() == before
    rows[7]["region"] = "370811001"
    assert (
        import_institutions(rencheng_officer, parse_rows(xlsx(rows), "a.xlsx"), filename="a.xlsx").created
        == 20
    )


def test_a_kind_limited_scope_refuses_other_kinds(make_user: Any, tree: Any) -> None:
    lead = make_user(
        "elderly_only", roles=["county_officer"], region=tree["rencheng"], kinds=("elderly_care",)
    )
    rows = [good_row(1), good_row(2) | {"kind": "殡葬服务", "subtype": None}]
    with pytest.raises(ImportRefused) as info:
        import_institutions(lead, parse_rows(xlsx(rows), "a.xlsx"), filename="a.xlsx")
    assert lines(info) == [3]


def test_duplicates_in_the_file_and_against_the_database(
    city_office: Any, tree: Any, institutions: Any
) -> None:
    existing = institutions["rc_elderly"]
    existing.uscc = uscc(99)
    existing.save()
    rows = twenty_rows()
    rows[10]["uscc"] = rows[2]["uscc"]  # line 12 repeats line 4
    rows[15]["uscc"] = uscc(99).lower()  # line 17 is already registered (case does not matter)
    with pytest.raises(ImportRefused) as info:
        import_institutions(city_office, parse_rows(xlsx(rows), "a.xlsx"), filename="a.xlsx")
    assert lines(info) == [12, 17]
    assert "line 4" in info.value.errors[0].message or "第 4 行" in info.value.errors[0].message
    assert uscc(99) in info.value.errors[1].message
    existing.refresh_from_db()
    assert existing.name == "任城区古槐敬老院"  # the import never updates


def test_import_needs_the_permission(make_user: Any, tree: Any) -> None:
    inspector = make_user("insp", roles=["inspector"], region=tree["rencheng"])
    with pytest.raises(NotPermitted):
        import_institutions(inspector, parse_rows(xlsx([good_row(1)]), "a.xlsx"), filename="a.xlsx")


def test_checking_does_not_query_per_row(city_office: Any, tree: Any) -> None:
    """Region, subtype, ownership and duplicate look-ups are batched, and full_clean() inside
    rules.validate does not re-query the related rows it was given."""

    def count(n: int) -> int:
        rows = parse_rows(xlsx([good_row(i) for i in range(1, n + 1)]), "a.xlsx")
        scoping.forget(city_office)
        with CaptureQueriesContext(connection) as queries:
            excel.validate_rows(city_office, rows)
        return len(queries)

    assert count(20) == count(2)


def test_a_relation_deleted_meanwhile_refuses_the_file(city_office: Any, tree: Any, monkeypatch: Any) -> None:
    """The existence of region, subtype and ownership is checked once per file; the insert is guarded by
    the foreign keys, so a subtype deleted between check and write refuses the whole file."""
    rows = parse_rows(xlsx([good_row(1)]), "a.xlsx")
    checked = excel.validate_rows(city_office, rows)
    checked[0].subtype_id = 999_999
    monkeypatch.setattr(excel, "validate_rows", lambda *args, **kwargs: checked)
    with pytest.raises(ImportRefused):
        import_institutions(city_office, rows, filename="a.xlsx")
    assert not Institution.objects.filter(name="测试养老院0001").exists()


# --- pages ----------------------------------------------------------------------------------------------


def test_ui_upload_shows_the_error_table_and_writes_nothing(client: Any, city_office: Any, tree: Any) -> None:
    login_client(client, city_office)
    assert client.get(reverse("institutions:import")).status_code == 200
    before = Institution.objects.count()
    response = client.post(reverse("institutions:import"), {"file": upload(xlsx(three_bad(twenty_rows())))})
    assert response.status_code == 400
    page = response.content.decode()
    assert "import-errors" in page and "import_errors.html" in {t.name for t in response.templates}
    for line in ("<td>6</td>", "<td>11</td>", "<td>16</td>"):
        assert line in page
    assert "370899999" in page
    assert Institution.objects.count() == before


def test_ui_upload_of_a_good_file_redirects_to_the_list(client: Any, city_office: Any, tree: Any) -> None:
    login_client(client, city_office)
    response = client.post(reverse("institutions:import"), {"file": upload(xlsx(twenty_rows()))}, follow=True)
    assert response.redirect_chain[-1] == (reverse("institutions:list"), 302)
    assert "20" in " ".join(str(m) for m in response.context["messages"])
    assert Institution.objects.filter(name__startswith="测试养老院").count() == 20


@pytest.mark.parametrize(
    ("name", "content_type"), [("机构.csv", "text/csv"), ("机构.xlsx", "text/plain"), ("机构.xls", XLSX)]
)
def test_ui_refuses_other_files(
    client: Any, city_office: Any, tree: Any, name: str, content_type: str
) -> None:
    login_client(client, city_office)
    response = client.post(reverse("institutions:import"), {"file": upload(b"a,b\n", name, content_type)})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


def test_ui_without_the_permission_is_forbidden(client: Any, make_user: Any, tree: Any) -> None:
    inspector = make_user("insp", roles=["inspector"], region=tree["rencheng"])
    login_client(client, inspector)
    assert client.get(reverse("institutions:import")).status_code == 403
    assert AuditEvent.objects.filter(action="permission.denied").exists()


def test_large_files_run_in_the_background_with_progress(
    client: Any, city_office: Any, make_user: Any, tree: Any, settings: Any
) -> None:
    """More than 1,000 rows: stored, imported by the Huey task (immediate in tests), progress polled."""
    login_client(client, city_office)
    rows = [good_row(n) for n in range(1, 1201)]
    response = client.post(reverse("institutions:import"), {"file": upload(xlsx(rows))})
    assert response.status_code == 302
    progress_url = response["Location"]
    job = progress_url.rstrip("/").split("/")[-1]
    assert progress_url == reverse("institutions:import_progress", kwargs={"job": job})
    assert Institution.objects.filter(name__startswith="测试养老院").count() == 1200
    assert AuditEvent.objects.filter(action="institution.import").count() == 1
    page = client.get(progress_url)
    assert page.status_code == 200 and "1200" in page.content.decode()
    status = client.get(reverse("institutions:import_status", kwargs={"job": job}), HTTP_HX_REQUEST="true")
    assert status.status_code == 200 and "every 1s" not in status.content.decode()  # finished: polling stops
    assert not list((Path(settings.MEDIA_ROOT) / "imports").glob("*.xlsx"))  # the upload is removed
    other = make_user("other_office", roles=["city_safety_office"], region=tree["city"])
    login_client(client, other)
    assert client.get(progress_url).status_code == 404  # another person's job


def test_a_refused_background_import_lists_the_errors(client: Any, city_office: Any, tree: Any) -> None:
    login_client(client, city_office)
    rows = [good_row(n) for n in range(1, 1202)]
    rows[1100]["beds"] = "abc"
    response = client.post(reverse("institutions:import"), {"file": upload(xlsx(rows))}, follow=True)
    page = response.content.decode()
    assert "<td>1102</td>" in page and "import-errors" in page
    assert "import_errors.html" in {t.name for t in response.templates}
    assert not Institution.objects.filter(name__startswith="测试养老院").exists()


def test_status_fragment_polls_while_running(client: Any, city_office: Any, tree: Any) -> None:
    login_client(client, city_office)
    job = "00000000-0000-0000-0000-000000000000"
    imports.write_job(job, user=city_office.pk, status="running", done=300, total=2400, rows=1200, errors=[])
    response = client.get(reverse("institutions:import_status", kwargs={"job": job}))
    content = response.content.decode()
    assert 'hx-trigger="every 1s"' in content and 'value="12"' in content
    imports.write_job(job, done=2400)  # written; the reclassification is still running
    content = client.get(reverse("institutions:import_status", kwargs={"job": job})).content.decode()
    assert 'hx-trigger="every 1s"' in content and 'value="100"' in content


# --- export ---------------------------------------------------------------------------------------------


def test_export_is_scoped_uses_the_template_headers_and_reads_back(
    client: Any, rencheng_officer: Any, institutions: Any
) -> None:
    institutions["rc_elderly"].contact_phone = "+86 537 1234567"  # would be a formula without the guard
    institutions["rc_elderly"].save()
    login_client(client, rencheng_officer)
    response = client.get(reverse("institutions:export"))
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == HEADERS
    assert sorted(row[0] for row in values[1:]) == ["任城区古槐敬老院", "任城区殡仪馆"]
    assert {row[5] for row in values[1:]} == {"370811", "370811001"}
    assert AuditEvent.objects.filter(action="export", object_type="institutions.institution").exists()

    rows = parse_rows(response.content, "export.xlsx")
    assert set(rows[0]) == {"line"} | {field for field, _header in COLUMNS}
    result = import_institutions(rencheng_officer, rows, filename="export.xlsx")  # no USCCs: no clash
    assert result.created == 2
    assert Institution.objects.filter(name="任城区古槐敬老院", contact_phone="+86 537 1234567").count() == 2


def test_export_applies_the_list_filters(client: Any, city_office: Any, institutions: Any) -> None:
    login_client(client, city_office)
    response = client.get(reverse("institutions:export"), {"kind": "funeral"})
    names = [
        row[0]
        for row in load_workbook(io.BytesIO(response.content))
        .worksheets[0]
        .iter_rows(min_row=2, values_only=True)
    ]
    assert names == ["任城区殡仪馆"]


def test_an_export_reads_back_value_for_value(client: Any, city_office: Any, tree: Any) -> None:
    """Every column survives export → import: labels, dates, decimals, yes/no (new USCCs, no clash)."""
    import_institutions(city_office, parse_rows(xlsx(twenty_rows()), "a.xlsx"), filename="a.xlsx")
    login_client(client, city_office)
    response = client.get(reverse("institutions:export"), {"q": "测试养老院"})
    rows = parse_rows(response.content, "export.xlsx")
    assert len(rows) == 20
    for row in rows:
        row["name"] = "副本" + row["name"]
        row["uscc"] = uscc(int(row["uscc"][8:16]) + 1000)
    assert import_institutions(city_office, rows, filename="export.xlsx").created == 20
    fields = [name.removesuffix("_id") for name in FACT_FIELDS if name not in ("name", "uscc")]
    original = Institution.objects.get(name="测试养老院0003")
    copy = Institution.objects.get(name="副本测试养老院0003")
    assert {f: getattr(copy, f) for f in fields} == {f: getattr(original, f) for f in fields}
