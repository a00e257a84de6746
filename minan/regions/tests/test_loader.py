from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from openpyxl import Workbook

from minan.core.audit.models import AuditEvent
from minan.core.errors import NotPermitted
from minan.core.xlsx import RowError
from minan.regions import services
from minan.regions.management.commands.regions import JINING_FILE
from minan.regions.models import Region
from minan.regions.services import LoadResult, RegionLoadError, load_regions

HEADER = "code,name,level,parent_code,statutory,note\n"
STATUTORY_COUNTIES = {
    "370811": "任城区",
    "370812": "兖州区",
    "370826": "微山县",
    "370827": "鱼台县",
    "370828": "金乡县",
    "370829": "嘉祥县",
    "370830": "汶上县",
    "370831": "泗水县",
    "370832": "梁山县",
    "370881": "曲阜市",
    "370883": "邹城市",
}
ZONES = {"370871": "济宁高新技术产业开发区", "370891": "太白湖新区", "370892": "济宁经济技术开发区"}
SHIPPED_ROWS = 82  # 1 province + 1 city + 14 county-level + 66 townships


def write(tmp_path: Path, text: str, name: str = "regions.csv", *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def load_events() -> int:
    return AuditEvent.objects.filter(action="regions.load").count()


def error_lines(exc: pytest.ExceptionInfo[RegionLoadError]) -> list[int]:
    return [error.line for error in exc.value.errors]


# --- the shipped Jining file -------------------------------------------------------------------------


def test_shipped_file_loads_the_jining_tree(db: Any) -> None:
    result = load_regions(None, JINING_FILE)

    assert result == LoadResult(created=SHIPPED_ROWS, updated=0, unchanged=0)
    assert Region.objects.count() == SHIPPED_ROWS
    levels = Counter(Region.objects.values_list("level", flat=True))
    assert levels == {"province": 1, "city": 1, "county": 14, "township": 66}
    province = Region.objects.get(level="province")
    city = Region.objects.get(level="city")
    assert (province.code, province.name, province.parent_id, province.region_path) == (
        "370000",
        "山东省",
        None,
        "370000/",
    )
    assert (city.code, city.name, city.parent_id, city.region_path) == (
        "370800",
        "济宁市",
        province.pk,
        "370000/370800/",
    )

    counties = Region.objects.filter(level="county")
    assert {c.code: c.name for c in counties if c.statutory} == STATUTORY_COUNTIES
    assert {c.code: c.name for c in counties if not c.statutory} == ZONES
    assert all(c.parent_id == city.pk and c.region_path == f"370000/370800/{c.code}/" for c in counties)
    assert Region.objects.get(code="370871").note == "统计用区划代码, 非 GB/T 2260 区划"
    assert Region.objects.get(code="370891").note == "本地编码, 非 GB/T 2260 区划"
    assert Region.objects.get(code="370811").note.startswith("原郊区 1983–1992")

    for code in STATUTORY_COUNTIES:
        townships = Region.objects.filter(level="township", parent__code=code)
        assert townships.count() >= 4, code
        for township in townships:
            assert township.code.startswith(code) and len(township.code) == 9
            assert township.region_path == f"370000/370800/{code}/{township.code}/"
            assert township.note == "演示编码"
            suffix = int(township.code[6:])
            if township.name.endswith("街道"):
                assert 1 <= suffix <= 99, township
            elif township.name.endswith("镇"):
                assert 100 <= suffix <= 199, township
            else:
                assert township.name.endswith("乡") and 200 <= suffix <= 299, township
    assert Region.objects.filter(level="township", parent__code__in=ZONES).count() == 0
    assert Region.objects.get(code="370811001").name == "古槐街道"
    assert Region.objects.get(code="370883001").name == "钢山街道"

    event = AuditEvent.objects.get(action="regions.load")
    assert event.object_type == "regions.region"
    assert event.user_id is None
    assert event.username == "system"
    assert event.detail == f"regions loaded: created {SHIPPED_ROWS}, updated 0, unchanged 0, file jining.csv"


def test_loading_twice_creates_nothing(db: Any) -> None:
    load_regions(None, JINING_FILE)
    paths = dict(Region.objects.values_list("code", "region_path"))

    assert load_regions(None, JINING_FILE) == LoadResult(created=0, updated=0, unchanged=SHIPPED_ROWS)
    assert Region.objects.count() == SHIPPED_ROWS
    assert dict(Region.objects.values_list("code", "region_path")) == paths
    assert load_events() == 2


def test_reload_updates_name_statutory_and_note(db: Any, tmp_path: Path) -> None:
    load_regions(None, JINING_FILE)
    path = write(
        tmp_path, HEADER + "370891,太白湖新区管委会,county,370800,否,改名\n370811,任城区,县,370800,是,\n"
    )

    assert load_regions(None, path) == LoadResult(created=0, updated=2, unchanged=0)
    zone = Region.objects.get(code="370891")
    assert (zone.name, zone.statutory, zone.note, zone.region_path) == (
        "太白湖新区管委会",
        False,
        "改名",
        "370000/370800/370891/",
    )
    assert Region.objects.get(code="370811").note == ""
    assert Region.objects.count() == SHIPPED_ROWS


def test_fixture_tree_is_consistent_with_shipped_file(tree: dict[str, Any]) -> None:
    result = load_regions(None, JINING_FILE)

    # The fixture's six nodes exist; 任城区 and 古槐街道 gain their notes, 钢山街道 too.
    assert result == LoadResult(created=SHIPPED_ROWS - 6, updated=3, unchanged=3)
    assert Region.objects.get(code="370811001").pk == tree["rc_town"].pk


# --- validation: every error, nothing written ---------------------------------------------------------


def test_three_bad_rows_are_reported_and_nothing_is_written(db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "370000,山东省,province,,true,\n"  # line 2
        + "370800,济宁市,city,370000,true,\n"  # 3
        + "37081A,任城区,county,370800,true,\n"  # 4: malformed code
        + "370811,任城区,county,370800,true,\n"  # 5
        + "370899001,某街道,township,370899,true,\n"  # 6: unknown parent
        + "370811001,古槐街道,township,370811,true,\n"  # 7
        + "370812001,鼓楼街道,township,370811,true,\n"  # 8: does not begin with its county code
        + "370811002,济阳街道,township,370811,true,\n",  # 9
    )

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(4, "", _("The code “%(code)s” must contain digits only.") % {"code": "37081A"}),
        RowError(
            6,
            "",
            _("The parent %(parent)s is neither in the file nor in the database.") % {"parent": "370899"},
        ),
        RowError(
            8, "", _("A township code must begin with its county code %(parent)s.") % {"parent": "370811"}
        ),
    ]
    assert exc.value.code == "region_file_invalid"
    assert Region.objects.count() == 0
    assert load_events() == 0


def test_errors_do_not_touch_existing_rows(tree: dict[str, Any], tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "370811,任城区新名,county,370800,true,\n370883,邹城市,county,370899,true,\n"
    )

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert error_lines(exc) == [3]
    assert Region.objects.get(code="370811").name == "任城区"
    assert Region.objects.count() == 6


def test_bom_csv_from_file_object_with_chinese_values(db: Any) -> None:
    text = (
        "代码,名称,级别,上级代码,法定区划,备注\n"
        "370000,山东省,省,,是,\n"
        "370800,济宁市,市,370000,是,\n"
        "370881,曲阜市,县级市,370800,是,\n"
        "370811,任城区,区,370800,1,\n"
        "370811001,古槐街道,街道,370811,yes,\n"
        "370811100,长沟镇,镇,370811,TRUE,\n"
        "370881200,某乡,乡,370881,0,测试\n"
    )
    source = io.BytesIO(b"\xef\xbb\xbf" + text.encode("utf-8"))

    assert load_regions(None, source, filename="upload.CSV") == LoadResult(created=7, updated=0, unchanged=0)
    assert dict(Region.objects.values_list("code", "level")) == {
        "370000": "province",
        "370800": "city",
        "370881": "county",
        "370811": "county",
        "370811001": "township",
        "370811100": "township",
        "370881200": "township",
    }
    assert Region.objects.get(code="370881200").statutory is False
    assert Region.objects.get(code="370881200").note == "测试"


def test_children_before_parents_in_file_order(db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "370811001,古槐街道,township,370811,,\n"
        + "370811,任城区,county,370800,,\n"
        + "370800,济宁市,city,370000,,\n"
        + "370000,山东省,province,,,\n",
    )

    assert load_regions(None, path) == LoadResult(created=4, updated=0, unchanged=0)
    assert Region.objects.get(code="370811001").region_path == "370000/370800/370811/370811001/"
    assert Region.objects.get(code="370811001").statutory is True


def test_xlsx_with_chinese_headers_loads(db: Any, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["代码", "名称", "级别", "上级代码", "法定区划", "备注"])
    sheet.append([370000, "山东省", "省", None, "是", None])
    sheet.append([370800, "济宁市", "市", 370000, "是", None])
    sheet.append(["370883", "邹城市", "县级市", "370800", "是", None])
    sheet.append([370891, "太白湖新区", "县", 370800, "否", "本地编码"])
    sheet.append([None, None, None, None, None, None])
    sheet.append([370883001, "钢山街道", "街道", 370883.0, True, "演示编码"])
    path = tmp_path / "regions.xlsx"
    workbook.save(path)

    assert load_regions(None, path) == LoadResult(created=5, updated=0, unchanged=0)
    zone = Region.objects.get(code="370891")
    assert (zone.level, zone.statutory, zone.note, zone.region_path) == (
        "county",
        False,
        "本地编码",
        "370000/370800/370891/",
    )
    assert Region.objects.get(code="370883001").region_path == "370000/370800/370883/370883001/"


def test_xlsx_errors_report_sheet_row_numbers(db: Any, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name", "level", "parent_code"])
    sheet.append([370000, "山东省", "province", None])
    sheet.append([370800, "济宁市", "city", 370000])
    sheet.append([370800, "济宁市", "city", 370000])
    path = tmp_path / "regions.xlsx"
    workbook.save(path)

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(
            4, "", _("The code %(code)s already appears on line %(first)d.") % {"code": "370800", "first": 3}
        )
    ]


def test_duplicate_code_in_file(db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "370000,山东省,province,,,\n370800,济宁市,city,370000,,\n370000,山东,province,,,\n",
    )

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(
            4, "", _("The code %(code)s already appears on line %(first)d.") % {"code": "370000", "first": 2}
        )
    ]
    assert Region.objects.count() == 0


def test_moving_an_existing_region_is_refused(db: Any, tmp_path: Path) -> None:
    province = Region.objects.create(code="370000", name="山东省", level="province", region_path="370000/")
    Region.objects.create(
        code="370800", name="济宁市", level="city", parent=province, region_path="370000/370800/"
    )
    # A legacy row hung directly under the province.
    Region.objects.create(
        code="370811", name="任城区", level="county", parent=province, region_path="370000/370811/"
    )
    path = write(tmp_path, HEADER + "370811,任城区,county,370800,,\n370812,兖州区,county,370800,,\n")

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert error_lines(exc) == [2]
    assert exc.value.errors[0].message == _(
        "Region %(code)s exists under parent “%(old)s”, not “%(new)s”; moving a region is not supported by the loader."
    ) % {"code": "370811", "old": "370000", "new": "370800"}
    assert Region.objects.get(code="370811").parent == province
    assert not Region.objects.filter(code="370812").exists()


def test_name_length(db: Any, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + f"370000,{'山' * 65},province,,,\n370800,,city,370000,,\n")

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(2, "", _("The name is longer than %(max)d characters.") % {"max": 64}),
        RowError(3, "", _("The name is empty.")),
    ]
    assert load_regions(None, write(tmp_path, HEADER + f"370000,{'山' * 64},province,,,\n")).created == 1


def test_note_length(db: Any, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + f"370000,山东省,province,,,{'注' * 201}\n")

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(2, "", _("The note is longer than %(max)d characters.") % {"max": 200})
    ]


def test_code_shape_and_level_rules(db: Any, tmp_path: Path) -> None:
    load_regions(None, JINING_FILE)
    path = write(
        tmp_path,
        HEADER
        + "370001,山东,province,,,\n"  # 2: province must end in 0000
        + "370100,济南市,city,,,\n"  # 3: city needs a parent
        + "380800,某市,city,370000,,\n"  # 4: city outside its province's prefix
        + "370900,泰安市,city,370800,,\n"  # 5: city under a city
        + "370850,某区,county,370000,,\n"  # 6: county under the province (prefix differs too)
        + "370801,某区,county,370800,,\n"  # 7: fine
        + "37081100,某街道,township,370811,,\n"  # 8: 8 digits
        + "370811001000,古槐街道,township,370811,,\n"  # 9: 12 digits is fine
        + "370800999,某街道,township,370800,,\n"  # 10: township under a city
        + "370000,山东省,province,370800,,\n"  # 11: province with a parent
        + "370811,任城区,county,370800,maybe,\n"  # 12: statutory value
        + "370812,兖州区,district,370800,,\n",  # 13: level value
    )

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert error_lines(exc) == [2, 3, 4, 5, 6, 8, 10, 11, 12, 13]
    messages = {error.line: error.message for error in exc.value.errors}
    assert messages[12] == _("Unknown statutory value “%(value)s”; use 是/否, true/false, yes/no or 1/0.") % {
        "value": "maybe"
    }
    assert messages[13] == _(
        "Unknown level “%(value)s”; use province, city, county or township (省, 市, 县, 乡镇)."
    ) % {"value": "district"}
    assert Region.objects.count() == SHIPPED_ROWS


def test_header_problems(db: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "code,name,parent,代码\n370000,山东省,,\n")

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(1, "parent", _("Unknown column “%(column)s”.") % {"column": "parent"}),
        RowError(1, "代码", _("Column “%(column)s” appears more than once.") % {"column": "代码"}),
        RowError(1, "level", _("Required column “%(column)s” is missing.") % {"column": "level"}),
    ]


def test_headers_in_any_case_and_spacing_and_header_problems_of_a_workbook(db: Any, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([" Code ", "NAME", "Level", "Parent_Code", "法定 区划"])
    sheet.append([370000, "山东省", "Province", None, "TRUE"])
    path = tmp_path / "regions.xlsx"
    workbook.save(path)
    assert load_regions(None, path) == LoadResult(created=1, updated=0, unchanged=0)

    sheet.delete_rows(1)
    sheet.insert_rows(1)
    for column, header in enumerate(["区划代码", "名称", "级别", "名称"], start=1):
        sheet.cell(row=1, column=column, value=header)
    workbook.save(path)
    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert exc.value.errors == [
        RowError(1, "名称", _("Column “%(column)s” appears more than once.") % {"column": "名称"})
    ]
    assert exc.value.code == "region_file_invalid"
    assert exc.value.message == _("The region file has %(count)d error(s); nothing was loaded.") % {
        "count": 1
    }


def test_file_limits(db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f"37{i:02d}00,某市,city,370000,,\n" for i in range(1, 5))
    path = write(tmp_path, HEADER + "370000,山东省,province,,,\n" + rows)

    monkeypatch.setattr(services, "MAX_ROWS", 4)
    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)
    assert exc.value.errors == [RowError(0, "", _("The file has more than %(max)d rows.") % {"max": 4})]

    monkeypatch.setattr(services, "MAX_ROWS", 50_000)
    monkeypatch.setattr(services, "MAX_FILE_BYTES", 100)
    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)
    assert error_lines(exc) == [0]
    with pytest.raises(RegionLoadError):
        load_regions(None, io.BytesIO(path.read_bytes()), filename="x.csv")
    assert Region.objects.count() == 0


def test_unsupported_and_unreadable_files(db: Any, tmp_path: Path) -> None:
    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, write(tmp_path, HEADER, name="regions.txt"))
    assert exc.value.errors == [RowError(0, "", _("Unsupported file type; use a .csv or .xlsx file."))]

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, write(tmp_path, "not a zip", name="regions.xlsx"))
    assert exc.value.errors == [RowError(0, "", _("The file is not a readable XLSX workbook."))]

    (tmp_path / "latin.csv").write_bytes(HEADER.encode() + "370000,\xe9,province,,,\n".encode("latin-1"))
    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, tmp_path / "latin.csv")
    assert exc.value.errors == [RowError(0, "", _("The CSV file is not UTF-8 encoded."))]

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, write(tmp_path, HEADER))
    assert exc.value.errors == [RowError(0, "", _("The file has no data rows."))]


def test_line_numbers_count_blank_and_multiline_records(db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "\n" + '370000,山东省,province,,,"two\nlines"\n' + "370800,济宁市,city,,,\n",
        bom=True,
    )

    with pytest.raises(RegionLoadError) as exc:
        load_regions(None, path)

    assert error_lines(exc) == [5]


# --- permission ----------------------------------------------------------------------------------------


def test_user_without_permission_is_refused(make_user: Any, tree: dict[str, Any]) -> None:
    officer = make_user("rc_officer", roles=["county_officer"], region=tree["rencheng"])
    before = Region.objects.count()

    with pytest.raises(NotPermitted):
        load_regions(officer, JINING_FILE)

    assert Region.objects.count() == before == 6
    assert load_events() == 0


def test_system_admin_may_load(make_user: Any, tree: dict[str, Any]) -> None:
    admin = make_user("sysadmin", roles=["system_admin"], region=tree["city"])

    result = load_regions(admin, JINING_FILE)

    assert result.created == SHIPPED_ROWS - 6
    event = AuditEvent.objects.get(action="regions.load")
    assert (event.user_id, event.username) == (admin.pk, "sysadmin")


# --- command -------------------------------------------------------------------------------------------


def test_command_loads_the_shipped_file(db: Any) -> None:
    out = io.StringIO()

    call_command("regions", "load", "--jining", stdout=out)

    assert out.getvalue().strip() == _(
        "Regions loaded from %(file)s: created %(created)d, updated %(updated)d, unchanged %(unchanged)d."
    ) % {"file": "jining.csv", "created": SHIPPED_ROWS, "updated": 0, "unchanged": 0}
    assert Region.objects.count() == SHIPPED_ROWS


def test_command_fails_on_a_bad_file(db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "370000,山东省,province,,,\n3708X0,济宁市,city,370000,,\n370801,某区,county,370899,,\n",
    )
    err = io.StringIO()

    with pytest.raises(CommandError) as exc:
        call_command("regions", "load", str(path), stderr=err)

    assert exc.value.returncode == 1
    lines = err.getvalue().splitlines()
    assert lines == [
        _("Line %(line)d: %(message)s")
        % {"line": 3, "message": _("The code “%(code)s” must contain digits only.") % {"code": "3708X0"}},
        _("Line %(line)d: %(message)s")
        % {
            "line": 4,
            "message": _("The parent %(parent)s is neither in the file nor in the database.")
            % {"parent": "370899"},
        },
    ]
    assert Region.objects.count() == 0


def test_command_missing_file(db: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        call_command("regions", "load", str(tmp_path / "missing.csv"))


def test_export_round_trips(db: Any, tmp_path: Path) -> None:
    load_regions(None, JINING_FILE)
    target = tmp_path / "export.csv"
    out = io.StringIO()

    call_command("regions", "export", "--output", str(target), stderr=io.StringIO())
    call_command("regions", "export", stdout=out)

    text = target.read_text(encoding="utf-8")
    assert out.getvalue() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == SHIPPED_ROWS
    assert list(rows[0]) == ["code", "name", "level", "parent_code", "statutory", "note"]
    assert rows[0] == {
        "code": "370000",
        "name": "山东省",
        "level": "province",
        "parent_code": "",
        "statutory": "true",
        "note": "",
    }
    assert [row["code"] for row in rows[:3]] == ["370000", "370800", "370811"]
    assert {row["code"]: row["statutory"] for row in rows}["370892"] == "false"
    paths = [Region.objects.get(code=row["code"]).region_path for row in rows]
    assert paths == sorted(paths)

    assert load_regions(None, target) == LoadResult(created=0, updated=0, unchanged=SHIPPED_ROWS)

    # Into an empty database the export rebuilds the same tree.
    snapshot = sorted(
        Region.objects.values_list(
            "code", "name", "level", "parent__code", "statutory", "note", "region_path"
        )
    )
    for depth in ("township", "county", "city", "province"):
        Region.objects.filter(level=depth).delete()
    assert load_regions(None, target) == LoadResult(created=SHIPPED_ROWS, updated=0, unchanged=0)
    assert (
        sorted(
            Region.objects.values_list(
                "code", "name", "level", "parent__code", "statutory", "note", "region_path"
            )
        )
        == snapshot
    )


def test_uploaded_file_objects_use_their_name(db: Any, tmp_path: Path) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name", "level", "parent_code"])
    sheet.append(["370000", "山东省", "province", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload = SimpleUploadedFile("省.xlsx", buffer.getvalue())
    assert load_regions(None, upload) == LoadResult(created=1, updated=0, unchanged=0)

    text_upload = io.StringIO(HEADER + "370800,济宁市,city,370000,,\n")
    assert load_regions(None, text_upload, filename="city.csv") == LoadResult(
        created=1, updated=0, unchanged=0
    )
    assert AuditEvent.objects.filter(action="regions.load").latest("pk").detail.endswith("file city.csv")
