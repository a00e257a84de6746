"""The shared xlsx reader and writer: header mapping, the problem list, reading cells back."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook

from minan.core import xlsx
from minan.core.xlsx import Columns, ImportRefused, RowError

FORMAT = Columns(
    [("institution", "机构*"), ("serial", "序列号*"), ("beats", "心跳周期(秒)"), ("room", "位置")],
    aliases={"统一社会信用代码": "institution", "IMEI": "serial", "房间": "room"},
    ignore=["状态"],
)


def workbook(*rows: list[Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def refused(call: Any) -> list[tuple[int, str, str]]:
    with pytest.raises(ImportRefused) as caught:
        call()
    return [(e.line, e.column, e.message) for e in caught.value.errors]


def test_headers_map_by_name_and_alias_whatever_the_spacing_star_and_brackets() -> None:
    cells = ["\ufeff统一社会信用代码", " IMEI ＊", None, "心跳周期（秒）", "状态", "房 间"]
    assert FORMAT.map(1, cells) == {"institution": 0, "serial": 1, "beats": 3, "room": 5}
    assert FORMAT.headers == ["机构*", "序列号*", "心跳周期(秒)", "位置"]
    assert FORMAT.names == {
        "institution": "机构",
        "serial": "序列号",
        "beats": "心跳周期(秒)",
        "room": "位置",
    }
    assert FORMAT.required_fields == ["institution", "serial"]


def test_unknown_repeated_and_missing_columns_are_all_listed_in_column_order() -> None:
    problems = refused(lambda: FORMAT.map(2, ["颜色", "位置", "房间"]))
    assert problems == [
        (2, "颜色", _("Unknown column “%(column)s”.") % {"column": "颜色"}),
        (2, "房间", _("Column “%(column)s” appears more than once.") % {"column": "房间"}),
        (2, "机构", _("Required column “%(column)s” is missing.") % {"column": "机构"}),
        (2, "序列号", _("Required column “%(column)s” is missing.") % {"column": "序列号"}),
    ]


def test_a_lenient_format_ignores_unknown_columns_and_can_require_unstarred_ones() -> None:
    lenient = Columns([("code", "代码"), ("name", "名称*")], required=("code", "name"), strict=False)
    assert lenient.map(1, ["备注", "名称", "代码"]) == {"name": 1, "code": 2}
    assert refused(lambda: lenient.map(1, ["名称", "备注"])) == [
        (1, "代码", _("Required column “%(column)s” is missing.") % {"column": "代码"})
    ]


def test_a_format_may_ignore_the_case_of_headers() -> None:
    english = Columns([("code", "code"), ("name", "name")], aliases={"名称": "name"}, ignore_case=True)
    assert english.map(1, [" Code ", "NAME"]) == {"code": 0, "name": 1}
    assert refused(lambda: english.map(1, ["CODE", "Code", "Note"])) == [
        (1, "Code", _("Column “%(column)s” appears more than once.") % {"column": "Code"}),
        (1, "Note", _("Unknown column “%(column)s”.") % {"column": "Note"}),
    ]
    assert refused(lambda: FORMAT.map(1, ["imei", "机构"])) == [
        (1, "imei", _("Unknown column “%(column)s”.") % {"column": "imei"}),
        (1, "序列号", _("Required column “%(column)s” is missing.") % {"column": "序列号"}),
    ]


def test_an_import_may_word_its_own_summary() -> None:
    class RegionFileRefused(ImportRefused):
        def summary(self, count: int) -> str:
            return f"{count} problem(s) in the region file"

    errors = [RowError(3, "", "b"), RowError(2, "", "a")]
    assert RegionFileRefused(errors).message == "2 problem(s) in the region file"
    assert RegionFileRefused(errors).errors == [RowError(2, "", "a"), RowError(3, "", "b")]
    assert ImportRefused(errors).message == _("The file has %(count)d error(s); nothing was imported.") % {
        "count": 2
    }


def test_read_table_keeps_file_line_numbers_and_skips_blank_lines() -> None:
    data = workbook([], ["序列号", "机构"], ["S-1", "甲"], [], [None, "  "], ["S-2"])
    assert xlsx.read_table(data, "a.xlsx", FORMAT.map, 10) == [
        (3, {"serial": "S-1", "institution": "甲"}),
        (6, {"serial": "S-2", "institution": None}),
    ]


def test_a_bad_cell_is_reported_with_its_line_in_the_error_table() -> None:
    rows = xlsx.read_table(workbook(["机构", "序列号", "心跳周期(秒)"], ["甲", "S-1", 60], ["乙", "S-2", "快"]),
                           "a.xlsx", FORMAT.map, 10)  # fmt: skip
    errors = [
        RowError(line, FORMAT.names["beats"], f"“{row['beats']}” is not a whole number.")
        for line, row in rows
        if not isinstance(row["beats"], int)
    ]
    caught = FORMAT.refused([RowError(3, "机构", "late"), *errors, RowError(0, "", "file")])
    assert caught.errors == [
        RowError(0, "", "file"),
        RowError(3, "机构", "late"),
        RowError(3, "心跳周期(秒)", "“快” is not a whole number."),
    ]
    assert xlsx.error_table(caught.errors, shown=2) == {
        "errors": [RowError(0, "", "file"), RowError(3, "机构", "late")],
        "error_count": 3,
        "errors_hidden": 1,
    }


def test_whole_file_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    good = workbook(["机构", "序列号"], ["甲", "S-1"])
    assert refused(lambda: xlsx.read_table(good, "a.csv", FORMAT.map, 10)) == [
        (0, "", _("Only .xlsx files can be imported."))
    ]
    assert refused(lambda: xlsx.read_table(b"not a zip", "a.xlsx", FORMAT.map, 10)) == [
        (0, "", _("The file is not a readable XLSX workbook."))
    ]
    assert refused(lambda: xlsx.read_table(workbook(["机构", "序列号"]), "a.xlsx", FORMAT.map, 10)) == [
        (0, "", _("The file has no data rows."))
    ]
    two = workbook(["机构", "序列号"], ["甲", "S-1"], ["乙", "S-2"])
    assert refused(lambda: xlsx.read_table(two, "a.xlsx", FORMAT.map, 1)) == [
        (0, "", _("The file has more than %(max)d data rows.") % {"max": 1})
    ]
    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 1000)
    assert refused(lambda: xlsx.read_table(good, "a.xlsx", FORMAT.map, 10)) == [
        (0, "", _("The workbook is too large when unpacked."))
    ]
    monkeypatch.setattr(xlsx, "MAX_FILE_BYTES", 100)
    assert refused(lambda: xlsx.read_upload(good)) == [
        (0, "", _("The file is larger than %(size)d MB.") % {"size": 0})
    ]


def test_read_upload_takes_a_limit_and_text_files() -> None:
    too_large = [(0, "", _("The file is larger than %(size)d MB.") % {"size": 1})]
    megabyte = 1024 * 1024
    assert xlsx.read_upload(io.BytesIO(b"x" * megabyte), megabyte) == b"x" * megabyte
    assert refused(lambda: xlsx.read_upload(io.BytesIO(b"x" * (megabyte + 1)), megabyte)) == too_large
    assert refused(lambda: xlsx.read_upload(b"x" * (megabyte + 1), megabyte)) == too_large
    assert xlsx.read_upload(io.StringIO("代码,名称\n")) == "代码,名称\n".encode()
    # A text file is limited by its bytes in UTF-8, not by its characters.
    assert refused(lambda: xlsx.read_upload(io.StringIO("名" * (megabyte // 2)), megabyte)) == too_large


def test_the_error_table_partial_lists_every_problem_by_line_and_column() -> None:
    """The one partial (import_errors.html) of every import page: institutions, duty, devices, checklists."""
    errors = [
        RowError(3, "机构", "“某养老院”不在您的管辖范围内。"),
        RowError(7, "", "该行在表头之外还有数据。"),
    ]
    with translation.override("zh-hans"):
        html = render_to_string("import_errors.html", xlsx.error_table(errors))
        short = render_to_string("import_errors.html", xlsx.error_table(errors, shown=1))
        nothing = render_to_string("import_errors.html", xlsx.error_table([]))
    assert "<caption>发现 2 个问题，未导入任何数据。</caption>" in html
    assert "<tr><td>3</td><td>机构</td><td>“某养老院”不在您的管辖范围内。</td></tr>" in html
    assert "<tr><td>7</td><td>—</td><td>该行在表头之外还有数据。</td></tr>" in html
    assert html.count("<tr><td>") == 2 and 'class="hint"' not in html
    assert "<td>3</td>" in short and "<td>7</td>" not in short
    assert '<p class="hint">另有 1 个问题未显示，请先修正以上问题，然后重新上传文件。</p>' in short
    assert nothing.strip() == ""


def test_cell_text_and_spellings() -> None:
    assert [xlsx.cell_text(v) for v in (None, 3.0, 2.5, " 甲 ", "'=1+1", "'x")] == [
        "",
        "3",
        "2.5",
        "甲",
        "=1+1",
        "'x",
    ]
    assert xlsx.squash(" 心跳 周期（秒）X ") == "心跳周期(秒)x"
    assert xlsx.spellings([("smoke", "Smoke detector")], {"smoke": "烟感"}) == {
        "烟感": "smoke",
        "smoke": "smoke",
        "smokedetector": "smoke",
    }


def test_the_writer_keeps_formulas_as_text_and_reads_back() -> None:
    data, count = xlsx.sheets_bytes([("a/b[1]", ["名称", "值"], [["=SUM(A1)", 1], ["甲", None]])])
    assert count == 2
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet.title == "a_b_1_"
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["名称", "值"],
        ["'=SUM(A1)", 1],
        ["甲", None],
    ]
    assert xlsx.read_table(data, "x.xlsx", Columns([("name", "名称"), ("value", "值")]).map, 5) == [
        (2, {"name": "'=SUM(A1)", "value": 1}),
        (3, {"name": "甲", "value": None}),
    ]
    assert xlsx.cell_text("'=SUM(A1)") == "=SUM(A1)"
    assert xlsx.row_count_hint(data) is None  # a write-only workbook carries no dimension tag
    assert xlsx.row_count_hint(workbook(["名称"], ["甲"], ["乙"])) == 2
    assert xlsx.row_count_hint(b"not a zip") is None
