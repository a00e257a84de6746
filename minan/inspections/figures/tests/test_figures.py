"""Inspection figures: exact coverage, self-inspection compliance and results for a
constructed set of tasks (written with the ORM) and inspections (carried out through the services at
chosen dates), for the city office (both counties) and the 任城 officer (one county); the page, the
export, the API, the number of queries, the institution tab and the demo runs."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.labels import action_label
from minan.core.audit.models import AuditEvent
from minan.duty import services as duty
from minan.hazards.models import Hazard
from minan.inspections import demo_runs
from minan.inspections.checklists.selectors import current_template
from minan.inspections.execution import services
from minan.inspections.figures import selectors as figures
from minan.inspections.figures import views as figure_views
from minan.inspections.models import (
    Answer,
    ChecklistItem,
    ChecklistTemplate,
    Inspection,
    InspectionPlan,
    InspectionTask,
)
from minan.inspections.tests.factories import make_template

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 2)  # a Monday
OCTOBER = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
JINING = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in Jining."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=JINING)


@contextmanager
def on(day: dt.date) -> Iterator[None]:
    """10:00 in Jining on that day."""
    with time_machine.travel(at(day), tick=False):
        yield


@pytest.fixture(autouse=True)
def _setup(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    with on(TODAY):
        yield


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)  # drops cached roles and scope, as a new request would


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


def template_with_major_item() -> ChecklistTemplate:
    return make_template(
        "fire-daily",
        items=[
            {"code": "D01", "question": "疏散通道、安全出口畅通，未上锁"},
            {"code": "D02", "question": "灭火器在位，压力指针在绿区", "photo_on_fail": True},
            {"code": "D03", "question": "无室内停放、充电电动车", "major_on_fail": True},
        ],
    )


def inspect(actor: Any, institution: Any, kind: str, day: dt.date, failing: dict[str, str] | None = None,
            task: InspectionTask | None = None, submit: bool = True) -> Inspection:  # fmt: skip
    """An inspection started and submitted on `day` through the services."""
    actor = fresh(actor)
    template = current_template("fire-daily")
    with on(day):
        inspection = services.start(actor, institution, kind=kind, template=template, task=task)
        for item in ChecklistItem.objects.filter(template=inspection.template):
            if failing and item.code in failing:
                services.answer(actor, inspection, item, outcome="fail", note=failing[item.code])
            else:
                services.answer(actor, inspection, item, outcome="pass")
        if submit:
            inspection = services.submit(actor, inspection)
    return inspection


@pytest.fixture
def scenario(
    city_office: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> dict[str, Any]:
    """Self-inspection tasks (plan "self"), due in October unless said otherwise:
    任城 古槐敬老院 (home): 10-05 done on time (through an inspection), 10-12 done 10-13 00:30 (late by
      the local date, on time by the UTC one), 10-19 missed, 10-26 cancelled, 10-30 still open; 09-28
      done on time, 11-05 open.
    任城 殡仪馆 (funeral): 10-10, 10-20, 10-30 done on time.
    邹城 钢山养老中心 (zc): 10-15 done on time, 10-25 missed, 10-28 done 10-29 (late).
    Sector tasks (plan "sector"): zc 10-16 done 10-14 through an inspection; funeral 10-31 missed.
    Inspections submitted in October: self at home 10-05 (task, pass); sector at the funeral home 10-08
    (ad hoc, one failure: findings); sector at the children's home 10-22 (ad hoc, a major failure: fail);
    self at zc 10-25 (ad hoc, pass); sector at zc 10-14 (task, pass). Left out: a sector inspection of
    09-30, a draft and a cancelled one."""
    template_with_major_item()
    home, funeral = institutions["rc_elderly"], institutions["rc_funeral"]
    zc, child = institutions["zc_elderly"], institutions["zc_child"]
    inspector = make_user("inspector", roles=["inspector"], region=tree["city"])
    home_staff = make_user("home_staff", roles=["institution_staff"], institution=home)
    zc_staff = make_user("zc_staff", roles=["institution_staff"], institution=zc)
    plans = {
        kind: InspectionPlan.objects.create(
            name=f"{kind} plan",
            template_code="fire-daily",
            kind=kind,
            cadence="weekly",
            region=tree["city"],
            region_path=tree["city"].region_path,
            starts_on=d(1, 1),
            created_by=city_office,
        )  # fmt: skip
        for kind in ("self", "sector")
    }

    def task(kind: str, institution: Any, due: dt.date, status: str = "open",
             done_at: dt.datetime | None = None) -> InspectionTask:  # fmt: skip
        return InspectionTask.objects.create(
            plan=plans[kind], institution=institution, region_path=institution.region_path, kind=kind,
            period_start=due - dt.timedelta(days=6), period_end=due, due_on=due, status=status, done_at=done_at,
        )  # fmt: skip

    tasks = {
        "home_1005": task("self", home, d(10, 5)),
        "home_1012": task("self", home, d(10, 12), "done", at(d(10, 13), 0, 30)),
        "home_1019": task("self", home, d(10, 19), "missed"),
        "home_1026": task("self", home, d(10, 26), "cancelled"),
        "home_1030": task("self", home, d(10, 30)),
        "home_0928": task("self", home, d(9, 28), "done", at(d(9, 28))),
        "home_1105": task("self", home, d(11, 5)),
        "funeral_1010": task("self", funeral, d(10, 10), "done", at(d(10, 9))),
        "funeral_1020": task("self", funeral, d(10, 20), "done", at(d(10, 20), 23, 30)),
        "funeral_1030": task("self", funeral, d(10, 30), "done", at(d(10, 30))),
        "zc_1015": task("self", zc, d(10, 15), "done", at(d(10, 15))),
        "zc_1025": task("self", zc, d(10, 25), "missed"),
        "zc_1028": task("self", zc, d(10, 28), "done", at(d(10, 29))),
        "zc_sector": task("sector", zc, d(10, 16)),
        "funeral_sector": task("sector", funeral, d(10, 31), "missed"),
    }
    done = {
        "home_self": inspect(home_staff, home, "self", d(10, 5), task=tasks["home_1005"]),
        "funeral_sector": inspect(inspector, funeral, "sector", d(10, 8), {"D01": "通道堆放杂物"}),
        "child_sector": inspect(inspector, child, "sector", d(10, 22), {"D03": "楼道内电动车充电"}),
        "zc_self": inspect(zc_staff, zc, "self", d(10, 25)),
        "zc_sector": inspect(inspector, zc, "sector", d(10, 14), task=tasks["zc_sector"]),
        "september": inspect(inspector, home, "sector", d(9, 30)),
        "draft": inspect(inspector, home, "sector", d(10, 20), submit=False),
    }
    with on(d(10, 21)):
        cancelled = inspect(inspector, funeral, "sector", d(10, 21), submit=False)
        services.cancel(fresh(inspector), cancelled, "走错了")
    return {"tasks": tasks, "inspections": done, "inspector": inspector, "home_staff": home_staff}


def coverage(f: figures.Coverage) -> dict[str, Any]:
    return {
        "planned": f.planned, "done": f.done, "on_time": f.on_time, "late": f.late, "missed": f.missed,
        "open": f.open, "done_rate": f.done_rate, "on_time_rate": f.on_time_rate, "adhoc": f.adhoc,
    }  # fmt: skip


def results(f: figures.Results) -> dict[str, int]:
    return {"passed": f.passed, "findings": f.findings, "failed": f.failed, "total": f.total}


def compliance(f: figures.CountyCompliance) -> dict[str, Any]:
    return {"institutions": f.institutions, "due": f.due, "on_time": f.on_time, "average": f.average}


ZERO_COVERAGE = {"planned": 0, "done": 0, "on_time": 0, "late": 0, "missed": 0, "open": 0, "done_rate": None,
                 "on_time_rate": None, "adhoc": 0}  # fmt: skip
COVERAGE = {"planned": 12, "done": 8, "on_time": 6, "late": 2, "missed": 3, "open": 1, "done_rate": 66.7,
            "on_time_rate": 50.0, "adhoc": 3}  # fmt: skip
COVERAGE_SELF = {"planned": 10, "done": 7, "on_time": 5, "late": 2, "missed": 2, "open": 1, "done_rate": 70.0,
                 "on_time_rate": 50.0, "adhoc": 1}  # fmt: skip
COVERAGE_SECTOR = {"planned": 2, "done": 1, "on_time": 1, "late": 0, "missed": 1, "open": 0, "done_rate": 50.0,
                   "on_time_rate": 50.0, "adhoc": 2}  # fmt: skip
COVERAGE_RENCHENG = {"planned": 8, "done": 5, "on_time": 4, "late": 1, "missed": 2, "open": 1, "done_rate": 62.5,
                     "on_time_rate": 50.0, "adhoc": 1}  # fmt: skip
COVERAGE_ZOUCHENG = {"planned": 4, "done": 3, "on_time": 2, "late": 1, "missed": 1, "open": 0, "done_rate": 75.0,
                     "on_time_rate": 50.0, "adhoc": 2}  # fmt: skip
RESULTS = {"passed": 3, "findings": 1, "failed": 1, "total": 5}
RESULTS_RENCHENG = {"passed": 1, "findings": 1, "failed": 0, "total": 2}
RESULTS_ZOUCHENG = {"passed": 2, "findings": 0, "failed": 1, "total": 3}
# Institutions: home 1 of 4 (25 %), funeral 3 of 3 (100 %), zc 1 of 3 (33.3 %); averages per institution.
COMPLIANCE = {"institutions": 3, "due": 10, "on_time": 5, "average": 52.8}  # (1/4 + 1 + 1/3) / 3
COMPLIANCE_RENCHENG = {"institutions": 2, "due": 7, "on_time": 4, "average": 62.5}
COMPLIANCE_ZOUCHENG = {"institutions": 1, "due": 3, "on_time": 1, "average": 33.3}


def test_the_scenario_is_what_the_figures_assume(scenario: dict[str, Any]) -> None:
    tasks, done = scenario["tasks"], scenario["inspections"]
    home_task = InspectionTask.objects.get(pk=tasks["home_1005"].pk)
    assert home_task.status == "done" and home_task.done_at == at(d(10, 5))
    assert InspectionTask.objects.get(pk=tasks["zc_sector"].pk).done_at == at(d(10, 14))
    results_ = {k: Inspection.objects.get(pk=v.pk) for k, v in done.items()}
    assert [(results_[k].status, results_[k].result) for k in ("home_self", "funeral_sector", "child_sector")] == [
        ("submitted", "pass"), ("submitted", "findings"), ("submitted", "fail"),
    ]  # fmt: skip
    assert results_["draft"].status == "draft"
    assert Inspection.objects.filter(status="cancelled").count() == 1
    # The late task was done on 10-12 by the UTC date, 10-13 by Jining's.
    late = InspectionTask.objects.get(pk=tasks["home_1012"].pk).done_at
    assert late is not None and late.astimezone(dt.UTC).date() == d(10, 12)


def test_figures_of_the_city_office_cover_both_counties(city_office: Any, scenario: dict[str, Any]) -> None:
    report = figures.figures(fresh(city_office), *OCTOBER)
    assert (report.today, report.due_until) == (TODAY, d(10, 31))
    assert coverage(report.coverage) == COVERAGE
    kinds = {row.key: coverage(row) for row in report.coverage_by_kind}
    assert list(kinds) == ["duty", "sector", "expert", "cross", "video", "self"]
    assert kinds == {
        "duty": ZERO_COVERAGE, "sector": COVERAGE_SECTOR, "expert": ZERO_COVERAGE, "cross": ZERO_COVERAGE,
        "video": ZERO_COVERAGE, "self": COVERAGE_SELF,
    }  # fmt: skip
    assert [(c.key, c.name) for c in report.coverage_by_county] == [
        ("370811", "任城区"),
        ("370883", "邹城市"),
    ]
    assert [coverage(c) for c in report.coverage_by_county] == [COVERAGE_RENCHENG, COVERAGE_ZOUCHENG]

    assert results(report.results) == RESULTS
    by_kind = {row.key: results(row) for row in report.results_by_kind}
    assert by_kind["self"] == {"passed": 2, "findings": 0, "failed": 0, "total": 2}
    assert by_kind["sector"] == {"passed": 1, "findings": 1, "failed": 1, "total": 3}
    assert by_kind["duty"] == {"passed": 0, "findings": 0, "failed": 0, "total": 0}
    assert [results(c) for c in report.results_by_county] == [RESULTS_RENCHENG, RESULTS_ZOUCHENG]

    assert compliance(report.compliance) == COMPLIANCE
    assert [(c.key, c.name) for c in report.compliance_by_county] == [
        ("370811", "任城区"),
        ("370883", "邹城市"),
    ]
    assert [compliance(c) for c in report.compliance_by_county] == [COMPLIANCE_RENCHENG, COMPLIANCE_ZOUCHENG]
    assert [(r.name, r.county_name, r.due, r.on_time, r.rate) for r in report.lowest_compliance] == [
        ("任城区古槐敬老院", "任城区", 4, 1, 25.0),
        ("邹城市钢山养老中心", "邹城市", 3, 1, 33.3),
        ("任城区殡仪馆", "任城区", 3, 3, 100.0),
    ]


def test_figures_of_the_county_officer_cover_only_the_county(
    rencheng_officer: Any, scenario: dict[str, Any]
) -> None:
    report = figures.figures(fresh(rencheng_officer), *OCTOBER)
    assert coverage(report.coverage) == COVERAGE_RENCHENG
    assert [(c.key, c.name) for c in report.coverage_by_county] == [("370811", "任城区")]
    assert [c.key for c in report.results_by_county] == ["370811"]
    assert [c.key for c in report.compliance_by_county] == ["370811"]
    assert results(report.results) == RESULTS_RENCHENG
    assert compliance(report.compliance) == COMPLIANCE_RENCHENG
    assert [r.name for r in report.lowest_compliance] == ["任城区古槐敬老院", "任城区殡仪馆"]
    kinds = {row.key: coverage(row) for row in report.coverage_by_kind}
    assert kinds["sector"] == {**ZERO_COVERAGE, "planned": 1, "missed": 1, "done_rate": 0.0, "on_time_rate": 0.0,
                               "adhoc": 1}  # fmt: skip


def test_the_period_decides_what_counts(city_office: Any, scenario: dict[str, Any]) -> None:
    user = fresh(city_office)
    # Default: 1 January to today; the 09-28 task and the 09-30 inspection now count, the 11-05 task
    # (due after today) does not.
    start, end = figures.parse_period({}, TODAY)
    assert (start, end) == (d(1, 1), TODAY)
    year = figures.figures(user, start, end)
    assert (year.coverage.planned, year.coverage.on_time, year.results.total) == (13, 7, 6)
    # (2/5 + 1 + 1/3) / 3 = 26/45
    assert (year.compliance.due, year.compliance.on_time, year.compliance.average) == (11, 6, 57.8)
    # November: the 11-05 task is planned but not yet due: nobody has a compliance figure.
    november = figures.figures(user, d(11, 1), d(11, 30))
    assert coverage(november.coverage) == {**ZERO_COVERAGE, "planned": 1, "open": 1, "done_rate": 0.0,
                                           "on_time_rate": 0.0}  # fmt: skip
    assert november.due_until == TODAY and november.compliance.average is None
    assert november.lowest_compliance == [] and [c.average for c in november.compliance_by_county] == [
        None,
        None,
    ]
    # One day: the funeral home's task done at 23:30 on the day it was due is on time (local dates).
    day = figures.figures(user, d(10, 20), d(10, 20))
    assert (day.coverage.planned, day.coverage.on_time) == (1, 1)
    # The home's task due 10-12 was done after midnight in Jining: late.
    day = figures.figures(user, d(10, 12), d(10, 12))
    assert (day.coverage.done, day.coverage.on_time, day.coverage.late) == (1, 0, 1)
    assert day.lowest_compliance[0].rate == 0.0
    # Inspections count by their local finishing day.
    assert figures.figures(user, d(10, 8), d(10, 8)).results.findings == 1
    assert figures.figures(user, d(10, 9), d(10, 9)).results.total == 0


def test_rates_round_half_up() -> None:
    assert figures.percent(Fraction(1, 16)) == 6.3  # 6.25
    assert figures.percent(Fraction(1, 3)) == 33.3
    assert figures.percent(Fraction(2, 3)) == 66.7
    assert figures.percent(Fraction(1, 8)) == 12.5
    assert figures.percent(None) is None
    assert figures.percent(Fraction(0)) == 0.0


def _add_rows(city_office: Any, institutions: dict[str, Any], n: int) -> None:
    """n tasks and n inspections per institution, written directly (fast)."""
    plan = InspectionPlan.objects.get(name="self plan")
    template = current_template("fire-daily")
    tasks, inspections = [], []
    for institution in institutions.values():
        for i in range(n):
            due = d(10, 1) + dt.timedelta(days=i % 30)
            tasks.append(InspectionTask(
                plan=plan, institution=institution, region_path=institution.region_path, kind="self",
                period_start=d(1, 1) + dt.timedelta(days=i), period_end=due, due_on=due,
                status=("done", "missed", "open")[i % 3], done_at=at(due) if i % 3 == 0 else None,
            ))  # fmt: skip
            inspections.append(Inspection(
                institution=institution, region_path=institution.region_path, kind=("sector", "self")[i % 2],
                template=template, status="submitted", lead=city_office, started_at=at(due),
                finished_at=at(due), result=("pass", "findings", "fail")[i % 3], score=1, max_score=3,
            ))  # fmt: skip
    InspectionTask.objects.bulk_create(tasks)
    Inspection.objects.bulk_create(inspections)


def test_the_number_of_queries_does_not_grow_with_the_rows(
    city_office: Any,
    scenario: dict[str, Any],
    institutions: dict[str, Any],
    django_assert_max_num_queries: Any,
) -> None:
    def count() -> int:
        user = fresh(city_office)
        with CaptureQueriesContext(connection) as ctx:
            figures.figures(user, *OCTOBER)
        return len(ctx.captured_queries)

    few = count()
    _add_rows(city_office, institutions, 20)
    assert count() == few
    user = fresh(city_office)
    # roles, scope, coverage, compliance, inspections, county names
    with django_assert_max_num_queries(6):
        report = figures.figures(user, *OCTOBER)
    assert report.results.total == 5 + 80
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    with django_assert_max_num_queries(10):
        assert api.get("/api/v1/inspection-figures/", {"from": "2026-10-01"}).status_code == 200


# --- the page, the export and the API ------------------------------------------------------------------------


def _tile(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"[^>]*>([^<]*)<', page)
    assert match, name
    return match.group(1).strip()


def _row(page: str, table: str, row: str) -> dict[str, str]:
    section = page.split(f'id="{table}"')[1].split("</table>")[0]
    cells = section.split(f'data-row="{row}"')[1].split("</tr>")[0]
    found = dict(re.findall(r'data-col="(\w+)">(.*?)</td>', cells))
    return {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in found.items()}


def _page_cells(values: dict[str, Any]) -> dict[str, str]:
    def show(key: str, value: Any) -> str:
        if value is None:
            return "—"
        return f"{value}%" if key.endswith("rate") else str(value)

    return {k: show(k, v) for k, v in values.items()}


def test_the_page_shows_the_exact_figures(client: Any, city_office: Any, scenario: dict[str, Any]) -> None:
    c = login_client(client, city_office)
    response = c.get(reverse("inspections:figures"), {"from": "2026-10-01", "to": "2026-10-31"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-period="2026-10-01/2026-10-31"' in page and "data-period-error" not in page
    tiles = {name: _tile(page, name) for name in (
        "planned", "done", "done-rate", "on-time-rate", "missed", "adhoc", "submitted", "passed", "findings",
        "failed", "compliance",
    )}  # fmt: skip
    assert tiles == {
        "planned": "12", "done": "8", "done-rate": "66.7%", "on-time-rate": "50.0%", "missed": "3", "adhoc": "3",
        "submitted": "5", "passed": "3", "findings": "1", "failed": "1", "compliance": "52.8%",
    }  # fmt: skip
    assert _row(page, "coverage-by-kind", "self") == _page_cells(COVERAGE_SELF)
    assert _row(page, "coverage-by-kind", "total") == _page_cells(COVERAGE)
    assert _row(page, "coverage-by-county", "370811") == _page_cells(COVERAGE_RENCHENG)
    assert _row(page, "coverage-by-county", "370883") == _page_cells(COVERAGE_ZOUCHENG)
    assert _row(page, "results-by-kind", "sector") == {
        "passed": "1",
        "findings": "1",
        "failed": "1",
        "total": "3",
    }
    assert _row(page, "results-by-county", "370883") == _page_cells(RESULTS_ZOUCHENG)
    assert _row(page, "compliance-by-county", "370811") == {"institutions": "2", "due": "7", "on_time": "4",
                                                            "average": "62.5%"}  # fmt: skip
    assert _row(page, "compliance-by-county", "total")["average"] == "52.8%"
    lowest = page.split('id="compliance-lowest"')[1].split("</table>")[0]
    assert re.findall(r'data-col="rate">([^<]*)<', lowest) == ["25.0%", "33.3%", "100.0%"]
    assert reverse("inspections:figures_export") in page  # the city office may export


def test_the_page_of_the_county_officer_hides_the_other_county(
    client: Any, rencheng_officer: Any, scenario: dict[str, Any]
) -> None:
    page = (
        login_client(client, rencheng_officer)
        .get(reverse("inspections:figures"), {"from": "2026-10-01", "to": "2026-10-31"})
        .content.decode()
    )
    assert (_tile(page, "planned"), _tile(page, "compliance"), _tile(page, "submitted")) == (
        "8",
        "62.5%",
        "2",
    )
    assert "邹城" not in page


def test_a_bad_date_on_the_page_falls_back_to_the_default(
    client: Any, city_office: Any, scenario: dict[str, Any]
) -> None:
    page = login_client(client, city_office).get(reverse("inspections:figures"), {"to": "2026-02-30"})
    text = page.content.decode()
    assert page.status_code == 200 and 'data-period-error="1"' in text and "2026-02-30" in text
    assert 'data-period="2026-01-01/2026-11-02"' in text and _tile(text, "planned") == "13"


def test_the_page_needs_the_view_permission(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    nobody = make_user("nobody", region=tree["city"])
    assert login_client(client, nobody).get(reverse("inspections:figures")).status_code == 403
    assert login_client(client, nobody).get(reverse("inspections:figures_export")).status_code == 403


def test_the_export_has_one_sheet_per_table_and_is_audited(
    client: Any, city_office: Any, make_user: Any, tree: dict[str, Any], scenario: dict[str, Any]
) -> None:
    c = login_client(client, city_office)
    response = c.get(reverse("inspections:figures_export"), {"from": "2026-10-01", "to": "2026-10-31"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "inspection-figures-20261001-20261031.xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    sheets = {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    titles = [
        str(t) for t, _h, _r in figure_views.export_sheets(figures.figures(fresh(city_office), *OCTOBER))
    ]
    assert list(sheets) == [t[:31] for t in titles] and len(sheets) == 6
    coverage_kind, coverage_county, results_kind, results_county, compliance_county, lowest = sheets.values()
    assert len(coverage_kind[0]) == 10 and len(results_kind[0]) == 5 and len(compliance_county[0]) == 5
    assert coverage_kind[-1][1:] == [12, 8, 6, 2, 3, 1, 66.7, 50.0, 3]  # the total
    assert coverage_county[1][1:] == [8, 5, 4, 1, 2, 1, 62.5, 50.0, 1]
    assert [row[0] for row in coverage_county[1:]] == ["任城区", "邹城市", coverage_county[-1][0]]
    assert results_kind[-1][1:] == [3, 1, 1, 5] and results_county[2][1:] == [2, 0, 1, 3]
    assert compliance_county[1][1:] == [2, 7, 4, 62.5] and compliance_county[-1][1:] == [3, 10, 5, 52.8]
    assert [row[1:] for row in lowest[1:]] == [
        ["任城区", 4, 1, 25.0],
        ["邹城市", 3, 1, 33.3],
        ["任城区", 3, 3, 100.0],
    ]
    assert [row[0] for row in lowest[1:]] == ["任城区古槐敬老院", "邹城市钢山养老中心", "任城区殡仪馆"]
    event = AuditEvent.objects.filter(action="inspection.figures_export").get()
    assert event.user_id == city_office.pk and "2026-10-01..2026-10-31" in event.detail
    # Viewing needs no export permission; exporting does (the inspector may view only).
    inspector = login_client(client, scenario["inspector"])
    page = inspector.get(reverse("inspections:figures")).content.decode()
    assert reverse("inspections:figures_export") not in page
    assert inspector.get(reverse("inspections:figures_export")).status_code == 403


def test_the_export_label_is_readable() -> None:
    assert action_label("inspection.figures_export") != "inspection.figures_export"


def test_the_api_gives_the_same_numbers(
    city_office: Any, rencheng_officer: Any, scenario: dict[str, Any]
) -> None:
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    response = api.get("/api/v1/inspection-figures/", {"from": "2026-10-01", "to": "2026-10-31"})
    assert response.status_code == 200
    body = response.json()
    assert (body["date_from"], body["date_to"], body["today"]) == ("2026-10-01", "2026-10-31", "2026-11-02")
    assert body["coverage"]["totals"] == COVERAGE
    assert [(k["kind"], k["planned"]) for k in body["coverage"]["kinds"]] == [
        ("duty", 0), ("sector", 2), ("expert", 0), ("cross", 0), ("video", 0), ("self", 10),
    ]  # fmt: skip
    counties = body["coverage"]["counties"]
    assert [(c["code"], c["name"]) for c in counties] == [("370811", "任城区"), ("370883", "邹城市")]
    assert {k: v for k, v in counties[0].items() if k not in {"code", "name"}} == COVERAGE_RENCHENG
    assert body["results"]["totals"] == RESULTS
    assert [{k: v for k, v in c.items() if k not in {"code", "name"}} for c in body["results"]["counties"]] == [
        RESULTS_RENCHENG, RESULTS_ZOUCHENG,
    ]  # fmt: skip
    assert body["compliance"]["due_until"] == "2026-10-31"
    assert body["compliance"]["totals"] == COMPLIANCE
    assert [{k: v for k, v in c.items() if k not in {"code", "name"}} for c in body["compliance"]["counties"]] == [
        COMPLIANCE_RENCHENG, COMPLIANCE_ZOUCHENG,
    ]  # fmt: skip
    assert [(i["name"], i["county"], i["due"], i["on_time"], i["rate"]) for i in body["compliance"]["lowest"]] == [
        ("任城区古槐敬老院", "370811", 4, 1, 25.0), ("邹城市钢山养老中心", "370883", 3, 1, 33.3),
        ("任城区殡仪馆", "370811", 3, 3, 100.0),
    ]  # fmt: skip
    api.force_authenticate(fresh(rencheng_officer))
    body = api.get("/api/v1/inspection-figures/", {"from": "2026-10-01", "to": "2026-10-31"}).json()
    assert body["coverage"]["totals"] == COVERAGE_RENCHENG and "邹城" not in str(body)
    body = api.get("/api/v1/inspection-figures/").json()
    assert (body["date_from"], body["date_to"], body["coverage"]["totals"]["planned"]) == (
        "2026-01-01", "2026-11-02", 9,
    )  # fmt: skip


def test_the_api_answers_400_on_a_bad_period(city_office: Any, make_user: Any, tree: dict[str, Any]) -> None:
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    response = api.get("/api/v1/inspection-figures/", {"from": "2026-10-01", "to": "2026-10-32"})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_date", "to")
    response = api.get("/api/v1/inspection-figures/", {"from": "2026-10-31", "to": "2026-10-01"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_period"
    api.force_authenticate(make_user("nobody", region=tree["city"]))
    assert api.get("/api/v1/inspection-figures/").status_code == 403


# --- the institution tab ---------------------------------------------------------------------------------------


def test_the_institution_tab_lists_inspections_and_open_tasks(
    client: Any, rencheng_officer: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any],
    scenario: dict[str, Any],
) -> None:  # fmt: skip
    home = institutions["rc_elderly"]
    c = login_client(client, rencheng_officer)
    page = c.get(reverse("institutions:detail", args=[home.pk]), {"tab": "inspections"}).content.decode()
    assert '?tab=inspections" aria-current="page"' in page
    shown = re.findall(r'data-inspection="(\d+)"', page)
    done = scenario["inspections"]
    # Newest first: the draft of 10-20, the self-inspection of 10-05, the sector one of 09-30; not cancelled.
    assert shown == [str(done["draft"].pk), str(done["home_self"].pk), str(done["september"].pk)]
    row = page.split(f'data-inspection="{done["home_self"].pk}"')[1].split("</tr>")[0]
    assert "2026-10-05" in row and "3/3" in row and "消防每日自查 v1" in row and "home_staff" in row
    tasks = scenario["tasks"]
    listed = re.findall(r'data-task="(\d+)"', page)
    assert listed == [str(tasks[k].pk) for k in ("home_1019", "home_1030", "home_1105")]
    # Another county's officer does not see the institution at all.
    zc_officer = make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])
    assert (
        login_client(client, zc_officer)
        .get(reverse("institutions:detail", args=[home.pk]), {"tab": "inspections"})
        .status_code
        == 404
    )


# --- the demo runs ---------------------------------------------------------------------------------------------


def _published(code: str) -> ChecklistTemplate:
    return current_template(code) or make_template(code, title=code)


def test_the_demo_runs_inspections_through_the_services_once(
    city_office: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    for code in ("fire-daily", "fire-monthly", "duty-visit", "gb38600"):
        _published(code)
    home = institutions["rc_elderly"]
    make_user("staff", roles=["institution_staff"], institution=home)
    make_user("inspector", roles=["inspector"], region=tree["city"])
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    duty.assign_cadre(fresh(city_office), home, cadre)
    out = io.StringIO()
    demo_runs.build(out)
    submitted = Inspection.objects.filter(status="submitted")
    kinds = sorted(submitted.values_list("kind", flat=True))
    # 5 daily + 1 monthly self-inspections, 1 duty check, a sector inspection in each of the 2 counties.
    assert kinds == ["duty"] + ["sector"] * 2 + ["self"] * 6
    assert "9 carried out" in out.getvalue()
    assert submitted.exclude(result="pass").exists() and submitted.filter(result="pass").exists()
    # Every failure became a hazard, linked from its answer; photo-required failures carry a photo.
    failures = Answer.objects.filter(inspection__in=submitted, outcome="fail")
    assert failures.exists() and not failures.filter(hazard__isnull=True).exists()
    assert Hazard.objects.count() == failures.count()
    for answer in failures.select_related("item"):
        assert answer.note and (not answer.item.photo_on_fail or answer.photos.exists())
    # Idempotent.
    demo_runs.build(io.StringIO())
    assert Inspection.objects.count() == 9


def test_the_demo_runs_skip_a_checklist_that_is_not_published(
    make_user: Any, institutions: dict[str, Any]
) -> None:
    ChecklistTemplate.objects.filter(code__in=["fire-monthly", "duty-visit", "gb38600"]).delete()
    _published("fire-daily")
    make_user("staff", roles=["institution_staff"], institution=institutions["rc_elderly"])
    demo_runs.build(io.StringIO())
    assert set(Inspection.objects.values_list("kind", flat=True)) == {"self"}
    assert Inspection.objects.filter(status="submitted").count() == 5
