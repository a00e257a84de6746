"""Excel import benchmark (`make bench`): 5,000 institutions from one xlsx file.

Baseline: `parse_rows()` alone, i.e. reading the workbook. Measured against it, in the same run:
checking every row (`validate_rows`), the full import as the system (actor None) and as the 任城区 county
officer (scope checks on every row), and the refusal of a copy with 3 bad rows (must report exactly 3).
The reclassification that follows an import (`institutions.services.after_facts_changed`) is timed
separately.
The whole import must stay under 60 s (the issue's requirement).

Runs on a throw-away SQLite file, or on DATABASE_URL (e.g. PostgreSQL) when it is set.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

import _django  # noqa: E402  (bench/ is on sys.path when a script here runs)

_django.start()

from django.db import connection  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "5000"))
LIMIT_SECONDS = 60.0
PERMISSION = "institutions.import_institution"


def uscc(serial: int, county: str) -> str:
    from minan.core.identifiers import uscc_check_character

    first17 = f"52{county}{serial:08d}1"
    return first17 + uscc_check_character(first17)


def workbook(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    from minan.institutions.imports.xlsx import HEADERS

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("机构")
    ws.append(HEADERS)
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def make_rows(towns: list[Any], start: int, prefix: str) -> list[list[Any]]:
    """ROWS valid rows in COLUMNS order, spread over `towns`; every column filled."""
    from minan.institutions.imports.xlsx import COLUMNS

    kinds = [
        ("养老服务", "养老院 / 养老中心"),
        ("儿童福利", "儿童福利院 / 儿童福利机构"),
        ("殡葬服务", "殡仪馆"),
    ]
    rows = []
    for i in range(ROWS):
        town = towns[i % len(towns)]
        kind, subtype = kinds[i % 3] if i % 10 == 0 else kinds[0]
        values = {
            "name": f"{prefix}{start + i:04d}",
            "kind": kind,
            "subtype": subtype,
            "ownership": "民办" if i % 2 else "公建民营",
            "uscc": uscc(start + i, town.code[:6]),
            "region": town.code,
            "address": f"{town.name}基准路{i}号",
            "contact_name": "王五",
            "contact_phone": "0537-2345678",
            "legal_representative": "赵六",
            "beds": 50 + i % 300,
            "residents": 20 + i % 50,
            "staff_count": 5 + i % 40,
            "opened_on": "2015-06-01",
            "filing_status": "已备案",
            "fire_acceptance": "已通过验收",
            "building_floors": 1 + i % 6,
            "building_structure": "钢筋混凝土",
            "construction_year": 1990 + i % 30,
            "star_grade": i % 6,
            "star_grade_date": "2023-05-10" if i % 6 else None,
            "fire_standardised": "是" if i % 3 else "否",
            "fire_standardised_date": "2024-01-15" if i % 3 else None,
            "latitude": 35.4 + (i % 100) / 1000,
            "longitude": 116.5 + (i % 100) / 1000,
            "status": "正常运营",
        }
        rows.append([values[field] for field, _header in COLUMNS])
    return rows


def timed(label: str, fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed:.2f} s")
    return elapsed, result


def main() -> None:
    if connection.vendor == "postgresql":
        print(f"database: PostgreSQL ({connection.settings_dict['NAME']})")
    else:
        print(f"database: SQLite file in {os.environ['MINAN_VAR_DIR']}")
    _django.load_demo()

    from minan.accounts import roles
    from minan.accounts.models import User
    from minan.core.audit.models import AuditEvent
    from minan.core.xlsx import ImportRefused
    from minan.institutions.imports import services as imports
    from minan.institutions.imports import xlsx as excel
    from minan.institutions.models import Institution
    from minan.regions.models import Region

    if PERMISSION not in roles.ROLE_PERMISSIONS[roles.COUNTY_OFFICER]:
        print(f"  (roles.py does not give county officers {PERMISSION} yet: granted for this run)")
        roles.ROLE_PERMISSIONS[roles.COUNTY_OFFICER] |= {PERMISSION}

    # Time the reclassification that ends each import on its own.
    reclassify_seconds: list[float] = []
    after = imports.after_facts_changed

    def timed_after(*args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        after(*args, **kwargs)
        reclassify_seconds.append(time.perf_counter() - start)

    imports.after_facts_changed = timed_after  # type: ignore[assignment]

    towns = list(Region.objects.filter(level="township").order_by("code"))
    rencheng_towns = [t for t in towns if t.code.startswith("370811")]
    officer = User.objects.get(username="rencheng")
    print(f"rows per file: {ROWS}; townships: {len(towns)} (任城区 {len(rencheng_towns)})")

    good = make_rows(towns, 1, "基准养老院")
    bad = [list(row) for row in good]
    uscc_column = [field for field, _h in excel.COLUMNS].index("uscc")
    region_column = [field for field, _h in excel.COLUMNS].index("region")
    beds_column = [field for field, _h in excel.COLUMNS].index("beds")
    code = bad[99][uscc_column]
    bad[99][uscc_column] = code[:-1] + ("0" if code[-1] != "0" else "1")  # line 101: check character
    bad[2499][region_column] = "370899999"  # line 2501: unknown region
    bad[4999 if ROWS >= 5000 else ROWS - 1][beds_column] = "abc"  # last line: not a number
    good_file, bad_file = workbook(good), workbook(bad)
    officer_file = workbook(make_rows(rencheng_towns, ROWS + 1, "基准任城养老院"))
    print(f"file size: {len(good_file) / 1024:.0f} KiB")

    before = Institution.objects.count()
    parse, rows = timed(
        "baseline: parse_rows (read the workbook)", lambda: excel.parse_rows(good_file, "good.xlsx")
    )
    check, _unused = timed(
        "validate_rows (check every row, nothing written)", lambda: excel.validate_rows(None, rows)
    )

    def refused() -> list[Any]:
        try:
            imports.import_institutions(None, excel.parse_rows(bad_file, "bad.xlsx"), filename="bad.xlsx")
        except ImportRefused as exc:
            return list(exc.errors)
        raise AssertionError("the file with 3 bad rows was imported")

    refuse_time, errors = timed("3 bad rows: parse + check + refuse", refused)
    for error in errors:
        print(f"    line {error.line}, {error.column}: {error.message}")
    assert [e.line for e in errors] == [101, 2501, ROWS + 1], errors
    assert Institution.objects.count() == before
    assert not AuditEvent.objects.filter(action="institution.import").exists()

    system, result = timed(
        "import as the system (check + write + reclassify)",
        lambda: imports.import_institutions(None, rows, filename="good.xlsx"),
    )
    assert result.created == ROWS and Institution.objects.count() == before + ROWS
    system_reclassify = reclassify_seconds[-1]
    print(f"    of which reclassification: {system_reclassify:.2f} s")

    officer_rows = excel.parse_rows(officer_file, "officer.xlsx")
    as_officer, result = timed(
        "import as the 任城区 county officer (scope check per row)",
        lambda: imports.import_institutions(officer, officer_rows, filename="officer.xlsx"),
    )
    assert result.created == ROWS
    print(f"    of which reclassification: {reclassify_seconds[-1]:.2f} s")
    assert AuditEvent.objects.filter(action="institution.import").count() == 2

    officer_reclassify = reclassify_seconds[-1]
    print(
        f"ratios against parsing: check {check / parse:.2f}, import (system) {system / parse:.2f}, "
        f"import (officer) {as_officer / parse:.2f}; without reclassification: system "
        f"{(system - system_reclassify) / parse:.2f}, officer {(as_officer - officer_reclassify) / parse:.2f}"
    )
    total = parse + system
    print(f"file to registry (parse + import as the system): {total:.1f} s ({ROWS / total:.0f} rows/s)")
    slow = [
        label
        for label, seconds in (("system", total), ("officer", parse + as_officer))
        if seconds >= LIMIT_SECONDS
    ]
    assert not slow, f"import of {ROWS} rows took 60 s or more ({', '.join(slow)})"
    imports.after_facts_changed = after  # type: ignore[assignment]


if __name__ == "__main__":
    main()
