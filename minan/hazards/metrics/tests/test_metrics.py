"""Hazard figures: exact values for a small set of hazards moved through the services at
chosen dates, for the city office (both counties) and the 任城 officer (one county); the page, the API and
the number of queries."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core import calendar
from minan.core.errors import DomainError
from minan.hazards import services
from minan.hazards.metrics import selectors as metrics
from minan.hazards.models import Hazard

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 2)  # a Monday
OCTOBER = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


@contextmanager
def on(day: dt.date) -> Iterator[None]:
    """10:00 in Jining on that day."""
    with time_machine.travel(dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture(autouse=True)
def _setup(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    with on(TODAY):
        yield


def photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buffer, "JPEG")
    return SimpleUploadedFile("fix.jpg", buffer.getvalue(), content_type="image/jpeg")


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)  # drops cached roles and scope, as a new request would


def report(actor: Any, institution: Any, **kwargs: Any) -> Hazard:
    values = {"source": "inspection", "category": "fire", "level": "general", "description": "灭火器过期"}
    return services.report(fresh(actor), institution, **{**values, **kwargs})


def move(actor: Any, hazard: Hazard, action: str, **kwargs: Any) -> Hazard:
    return services.transition(fresh(actor), hazard, action, **kwargs)


def rectify(staff: User, hazard: Hazard) -> Hazard:
    hazard = move(staff, hazard, "start")
    return move(staff, hazard, "submit", measures_taken="已整改", files=[photo()])


@pytest.fixture
def hazards(
    rencheng_officer: Any, city_office: Any, make_user: Any, institutions: dict[str, Any]
) -> dict[str, Hazard]:
    """任城区: A closed on time, B closed late (and once reopened), C open and overdue, E cancelled, F fixed
    on the spot in September and closed in October; 邹城市: D major and open.

    Working days (chinese_calendar 2026: 10-01..10-07 rest, Saturday 10-10 worked):
    A 10-09 → 10-15: 10-10, 10-12..10-15 = 5; B 10-12 → 10-22: 10-13..10-16, 10-19..10-22 = 8;
    F (no notice, from its finding) 09-29 → 10-09: 09-30, 10-08, 10-09 = 3."""
    officer = rencheng_officer
    home, funeral = institutions["rc_elderly"], institutions["rc_funeral"]
    home_staff = make_user("home_staff", roles=["institution_staff"], institution=home)
    funeral_staff = make_user("funeral_staff", roles=["institution_staff"], institution=funeral)
    found: dict[str, Hazard] = {}
    with on(dt.date(2026, 9, 29)):
        found["F"] = report(
            home_staff, home, description="插线板老化，已当场更换", on_the_spot=True, files=[photo()]
        )
    with on(dt.date(2026, 10, 8)):
        found["F"] = move(officer, found["F"], "accept")
    with on(dt.date(2026, 10, 9)):
        found["F"] = move(officer, found["F"], "close")
        found["A"] = move(
            officer,
            report(officer, home, description="疏散通道堆物"),
            "assign",
            requirement="清理整改到位",
            days=5,
        )
    with on(dt.date(2026, 10, 12)):
        found["B"] = move(
            officer,
            report(officer, funeral, description="私拉电线"),
            "assign",
            requirement="清理整改到位",
            days=3,
        )
    with on(dt.date(2026, 10, 13)):
        found["A"] = rectify(home_staff, found["A"])
        found["C"] = move(
            officer,
            report(officer, home, description="灭火器过期"),
            "assign",
            requirement="清理整改到位",
            days=2,
        )
    with on(dt.date(2026, 10, 14)):
        found["A"] = move(officer, found["A"], "accept")
        found["D"] = report(
            city_office, institutions["zc_elderly"], level="major", description="邹城彩钢板房"
        )
        found["E"] = move(officer, report(officer, home, description="重复登记"), "cancel", comment="重复")
    with on(dt.date(2026, 10, 15)):
        found["A"] = move(officer, found["A"], "close")
    with on(dt.date(2026, 10, 20)):
        found["B"] = rectify(funeral_staff, found["B"])
    with on(dt.date(2026, 10, 21)):
        found["B"] = move(officer, found["B"], "accept")
    with on(dt.date(2026, 10, 22)):
        found["B"] = move(officer, found["B"], "close")
    # A revisit found B's problem again once and it was fixed again (the revisit move is not under test).
    Hazard.objects.filter(pk=found["B"].pk).update(reopened=1)
    return {key: Hazard.objects.get(pk=h.pk) for key, h in found.items()}


def figures_dict(f: metrics.Figures) -> dict[str, Any]:
    return {
        "open_by_level": f.open_by_level,
        "overdue": f.overdue,
        "found": f.found,
        "rectified": f.rectified,
        "rectification_rate": f.rectification_rate,
        "closed": f.closed,
        "on_time_rate": f.on_time_rate,
        "avg_working_days_to_close": f.avg_working_days_to_close,
        "reopen_rate": f.reopen_rate,
        "zero_major": {"cleared": f.zero_major, "open_major": f.open_major},
    }


CITY_OCTOBER = {
    "open_by_level": {"general": 1, "major": 1},
    "overdue": 1,
    "found": 4,  # A, B, C, D (E cancelled, F found in September)
    "rectified": 2,  # A, B
    "rectification_rate": 50.0,
    "closed": 3,  # A, B, F
    "on_time_rate": 50.0,  # A of A, B (F had no deadline)
    "avg_working_days_to_close": 5.3,  # (5 + 8 + 3) / 3
    "reopen_rate": 33.3,  # B
    "zero_major": {"cleared": False, "open_major": 1},
}
RENCHENG_OCTOBER = {
    "open_by_level": {"general": 1, "major": 0},
    "overdue": 1,
    "found": 3,
    "rectified": 2,
    "rectification_rate": 66.7,
    "closed": 3,
    "on_time_rate": 50.0,
    "avg_working_days_to_close": 5.3,
    "reopen_rate": 33.3,
    "zero_major": {"cleared": True, "open_major": 0},
}
ZOUCHENG_OCTOBER = {
    "open_by_level": {"general": 0, "major": 1},
    "overdue": 0,
    "found": 1,
    "rectified": 0,
    "rectification_rate": 0.0,
    "closed": 0,
    "on_time_rate": None,
    "avg_working_days_to_close": None,
    "reopen_rate": None,
    "zero_major": {"cleared": False, "open_major": 1},
}


def test_the_scenario_is_what_the_figures_assume(hazards: dict[str, Hazard]) -> None:
    h = hazards
    assert (h["A"].assigned_on, h["A"].deadline) == (dt.date(2026, 10, 9), dt.date(2026, 10, 15))
    assert (h["B"].assigned_on, h["B"].deadline) == (dt.date(2026, 10, 12), dt.date(2026, 10, 15))
    assert (h["C"].deadline, h["C"].status) == (dt.date(2026, 10, 15), Hazard.Status.ASSIGNED)
    assert (h["F"].assigned_on, h["F"].deadline, h["F"].status) == (None, None, Hazard.Status.CLOSED)
    assert (h["D"].level, h["D"].status, h["E"].status) == ("major", "reported", "cancelled")
    # The average is the mean of calendar.working_days_between over the closed hazards.
    spans = [(dt.date(2026, 10, 9), dt.date(2026, 10, 15)), (dt.date(2026, 10, 12), dt.date(2026, 10, 22)),
             (dt.date(2026, 9, 29), dt.date(2026, 10, 9))]  # fmt: skip
    assert [calendar.working_days_between(a, b) for a, b in spans] == [5, 8, 3]


def test_figures_of_the_city_office_cover_both_counties(city_office: Any, hazards: dict[str, Hazard]) -> None:
    report = metrics.figures(fresh(city_office), *OCTOBER)
    assert report.today == TODAY and report.calendar_missing == []
    assert figures_dict(report.total) == CITY_OCTOBER
    assert [(c.code, c.name) for c in report.counties] == [("370811", "任城区"), ("370883", "邹城市")]
    assert figures_dict(report.counties[0]) == RENCHENG_OCTOBER
    assert figures_dict(report.counties[1]) == ZOUCHENG_OCTOBER
    # Institutions: most open first (ties: most overdue); an institution with only a cancelled hazard
    # (none here besides E's home, which has others) or none at all is not listed.
    rows = {f.name: figures_dict(f) for f in report.institutions}
    assert [f.name for f in report.institutions] == ["任城区古槐敬老院", "邹城市钢山养老中心", "任城区殡仪馆"]
    assert rows["任城区古槐敬老院"] == {
        "open_by_level": {"general": 1, "major": 0}, "overdue": 1, "found": 2, "rectified": 1,
        "rectification_rate": 50.0, "closed": 2, "on_time_rate": 100.0, "avg_working_days_to_close": 4.0,
        "reopen_rate": 0.0, "zero_major": {"cleared": True, "open_major": 0},
    }  # fmt: skip
    assert rows["邹城市钢山养老中心"] == ZOUCHENG_OCTOBER
    assert rows["任城区殡仪馆"] == {
        "open_by_level": {"general": 0, "major": 0}, "overdue": 0, "found": 1, "rectified": 1,
        "rectification_rate": 100.0, "closed": 1, "on_time_rate": 0.0, "avg_working_days_to_close": 8.0,
        "reopen_rate": 100.0, "zero_major": {"cleared": True, "open_major": 0},
    }  # fmt: skip


def test_figures_of_the_county_officer_cover_only_the_county(
    rencheng_officer: Any, hazards: dict[str, Hazard]
) -> None:
    report = metrics.figures(fresh(rencheng_officer), *OCTOBER)
    # The 邹城 major hazard is invisible: 动态清零 holds for 任城.
    assert figures_dict(report.total) == RENCHENG_OCTOBER
    assert [(c.code, c.name) for c in report.counties] == [("370811", "任城区")]
    assert figures_dict(report.counties[0]) == RENCHENG_OCTOBER
    assert [f.name for f in report.institutions] == ["任城区古槐敬老院", "任城区殡仪馆"]


def test_the_period_decides_found_and_closed_but_not_what_is_open_now(
    city_office: Any, hazards: dict[str, Hazard]
) -> None:
    user = fresh(city_office)
    # Default: 1 January to today; F (found in September) now counts as found and rectified.
    start, end = metrics.parse_period({}, TODAY)
    assert (start, end) == (dt.date(2026, 1, 1), TODAY)
    year = figures_dict(metrics.figures(user, start, end).total)
    assert {k: year[k] for k in ("found", "rectified", "rectification_rate", "closed")} == {
        "found": 5, "rectified": 3, "rectification_rate": 60.0, "closed": 3,
    }  # fmt: skip
    # One day: A closed on 10-15 (found before), nothing found; the open figures do not move.
    day = figures_dict(metrics.figures(user, dt.date(2026, 10, 15), dt.date(2026, 10, 15)).total)
    assert day == {
        **CITY_OCTOBER, "found": 0, "rectified": 0, "rectification_rate": None, "closed": 1,
        "on_time_rate": 100.0, "avg_working_days_to_close": 5.0, "reopen_rate": 0.0,
    }  # fmt: skip
    # Before anything: nothing to divide by.
    empty = figures_dict(metrics.figures(user, dt.date(2026, 1, 1), dt.date(2026, 1, 31)).total)
    assert (empty["found"], empty["closed"], empty["rectification_rate"], empty["on_time_rate"]) == (
        0,
        0,
        None,
        None,
    )
    assert (empty["avg_working_days_to_close"], empty["reopen_rate"]) == (None, None)
    # Local dates: F was found on 09-29 at 10:00 in Jining (02:00 UTC), inside a period starting 09-29.
    assert metrics.figures(user, dt.date(2026, 9, 29), dt.date(2026, 9, 29)).total.found == 1
    assert metrics.figures(user, dt.date(2026, 9, 30), dt.date(2026, 9, 30)).total.found == 0


def test_parse_period_refuses_bad_dates() -> None:
    assert metrics.parse_period({"from": "2026-10-01", "to": "2026-10-31"}, TODAY) == OCTOBER
    assert metrics.parse_period({"from": "2026-10-01"}, TODAY) == (dt.date(2026, 10, 1), TODAY)
    for params, code, field in (
        ({"from": "2026-13-01"}, "invalid_date", "from"),
        ({"to": "yesterday"}, "invalid_date", "to"),
        ({"from": "1800-01-01"}, "invalid_date", "from"),
        ({"from": "20261001"}, "invalid_date", "from"),
        ({"from": "2026-11-01", "to": "2026-10-01"}, "invalid_period", "from"),
    ):
        with pytest.raises(DomainError) as caught:
            metrics.parse_period(params, TODAY)
        assert (caught.value.code, caught.value.field) == (code, field), params


def test_a_year_without_a_calendar_is_left_out_of_the_working_days(
    city_office: Any, institutions: Any
) -> None:
    """2027 is not in the calendar package and not loaded: a hazard closed then has no working days, but
    still counts as closed."""
    user = fresh(city_office)
    with on(dt.date(2027, 1, 5)):
        hazard = report(user, institutions["rc_elderly"], on_the_spot=False)
        Hazard.objects.filter(pk=hazard.pk).update(
            status=Hazard.Status.CLOSED,
            accepted_at=hazard.found_at + dt.timedelta(days=1),
            closed_at=hazard.found_at + dt.timedelta(days=2),
        )
        report_ = metrics.figures(user, dt.date(2027, 1, 1), dt.date(2027, 1, 31))
    assert report_.total.closed == 1 and report_.total.avg_working_days_to_close is None
    assert report_.calendar_missing == [2027]


def _tile(page: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"[^>]*>([^<]*)<', page)
    assert match, name
    return match.group(1).strip()


def _row(page: str, attribute: str) -> dict[str, str]:
    row = page.split(attribute)[1].split("</tr>")[0]
    cells = dict(re.findall(r'data-col="(\w+)">(.*?)</td>', row))
    return {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in cells.items()}


def test_the_page_shows_the_exact_figures(client: Any, city_office: Any, hazards: dict[str, Hazard]) -> None:
    c = login_client(client, city_office)
    response = c.get(reverse("hazards:metrics"), {"from": "2026-10-01", "to": "2026-10-31"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-period="2026-10-01/2026-10-31"' in page and "data-period-error" not in page
    tiles = {name: _tile(page, name) for name in (
        "open-general", "open-major", "overdue", "found", "rectification-rate", "on-time-rate", "avg-days",
        "reopen-rate", "zero-major",
    )}  # fmt: skip
    assert tiles == {
        "open-general": "1", "open-major": "1", "overdue": "1", "found": "4", "rectification-rate": "50.0%",
        "on-time-rate": "50.0%", "avg-days": "5.3", "reopen-rate": "33.3%", "zero-major": "1",
    }  # fmt: skip
    assert 'data-figure="zero-major" data-cleared="0"' in page
    rencheng = _row(page, 'data-county="370811"')
    assert "已清零" in rencheng.pop("zero_major")  # whether or not the label is translated yet
    assert rencheng == {
        "open_general": "1", "open_major": "0", "overdue": "1", "found": "3", "rectification_rate": "66.7%",
        "on_time_rate": "50.0%", "avg_working_days_to_close": "5.3", "reopen_rate": "33.3%",
    }  # fmt: skip
    zoucheng = _row(page, 'data-county="370883"')
    assert (zoucheng["found"], zoucheng["rectification_rate"], zoucheng["on_time_rate"]) == ("1", "0.0%", "—")
    assert "已清零" not in zoucheng["zero_major"]
    funeral = _row(page, f'data-institution="{hazards["B"].institution_id}"')
    assert (funeral["on_time_rate"], funeral["avg_working_days_to_close"], funeral["reopen_rate"]) == (
        "0.0%", "8.0", "100.0%",
    )  # fmt: skip
    # The menu links the page after "Major hazards".
    assert reverse("hazards:metrics") in page


def test_the_page_of_the_county_officer_is_cleared_and_hides_the_other_county(
    client: Any, rencheng_officer: Any, hazards: dict[str, Hazard]
) -> None:
    page = login_client(client, rencheng_officer).get(reverse("hazards:metrics"), {"from": "2026-10-01",
                                                                                  "to": "2026-10-31"})  # fmt: skip
    text = page.content.decode()
    assert 'data-figure="zero-major" data-cleared="1"' in text and "已清零" in text
    assert (_tile(text, "open-major"), _tile(text, "found"), _tile(text, "rectification-rate")) == (
        "0", "3", "66.7%",
    )  # fmt: skip
    assert "邹城" not in text


def test_a_bad_date_on_the_page_falls_back_to_the_default_with_a_message(
    client: Any, city_office: Any, hazards: dict[str, Hazard]
) -> None:
    page = login_client(client, city_office).get(reverse("hazards:metrics"), {"from": "2026-02-30"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-period-error="1"' in text and "2026-02-30" in text
    assert 'data-period="2026-01-01/2026-11-02"' in text
    assert _tile(text, "found") == "5"


def test_the_page_needs_the_view_permission(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    nobody = make_user("nobody", region=tree["city"])
    assert login_client(client, nobody).get(reverse("hazards:metrics")).status_code == 403


def test_the_api_gives_the_same_numbers(
    city_office: Any, rencheng_officer: Any, hazards: dict[str, Hazard]
) -> None:
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    response = api.get("/api/v1/hazard-metrics/", {"from": "2026-10-01", "to": "2026-10-31"})
    assert response.status_code == 200
    body = response.json()
    assert (body["date_from"], body["date_to"], body["today"]) == ("2026-10-01", "2026-10-31", "2026-11-02")
    assert body["totals"] == CITY_OCTOBER
    assert [(c["code"], c["name"]) for c in body["counties"]] == [("370811", "任城区"), ("370883", "邹城市")]
    assert {k: v for k, v in body["counties"][0].items() if k not in {"code", "name"}} == RENCHENG_OCTOBER
    assert {k: v for k, v in body["counties"][1].items() if k not in {"code", "name"}} == ZOUCHENG_OCTOBER
    assert [(i["id"], i["name"]) for i in body["institutions"]] == [
        (hazards["A"].institution_id, "任城区古槐敬老院"),
        (hazards["D"].institution_id, "邹城市钢山养老中心"),
        (hazards["B"].institution_id, "任城区殡仪馆"),
    ]
    assert body["calendar_missing"] == []
    api.force_authenticate(fresh(rencheng_officer))
    body = api.get("/api/v1/hazard-metrics/", {"from": "2026-10-01", "to": "2026-10-31"}).json()
    assert body["totals"] == RENCHENG_OCTOBER and "邹城" not in str(body)
    # Default period.
    body = api.get("/api/v1/hazard-metrics/").json()
    assert (body["date_from"], body["date_to"], body["totals"]["found"]) == ("2026-01-01", "2026-11-02", 4)


def test_the_api_answers_400_on_a_bad_date(city_office: Any) -> None:
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    response = api.get("/api/v1/hazard-metrics/", {"from": "2026-10-01", "to": "2026-10-32"})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid_date", "to") and body["detail"]
    response = api.get("/api/v1/hazard-metrics/", {"from": "2026-10-31", "to": "2026-10-01"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_period"


def test_the_api_needs_the_view_permission(make_user: Any, tree: dict[str, Any]) -> None:
    api = APIClient()
    api.force_authenticate(make_user("nobody", region=tree["city"]))
    assert api.get("/api/v1/hazard-metrics/").status_code == 403


def _add_closed(actor: Any, institution: Any, n: int) -> None:
    """n hazards found, assigned and closed at different dates, written directly (fast)."""
    rows = []
    for i in range(n):
        found = dt.datetime(2026, 10, 1 + i % 20, 2, tzinfo=dt.UTC)
        rows.append(Hazard(
            institution=institution, region_path=institution.region_path, source="inspection", category="fire",
            level="general", description=f"批量 {i}", found_by=actor, found_at=found, status=Hazard.Status.CLOSED,
            assigned_on=found.date(), deadline=found.date() + dt.timedelta(days=7),
            accepted_at=found + dt.timedelta(days=3 + i % 5), closed_at=found + dt.timedelta(days=4 + i % 5),
            reopened=i % 3,
        ))  # fmt: skip
    Hazard.objects.bulk_create(rows)


def test_the_number_of_queries_does_not_grow_with_the_hazards(
    city_office: Any,
    hazards: dict[str, Hazard],
    institutions: dict[str, Any],
    django_assert_max_num_queries: Any,
) -> None:
    def count() -> int:
        user = fresh(city_office)
        with CaptureQueriesContext(connection) as ctx:
            metrics.figures(user, *OCTOBER)
        return len(ctx.captured_queries)

    few = count()
    for institution in institutions.values():
        _add_closed(city_office, institution, 15)
    assert count() == few
    user = fresh(city_office)
    # roles, scope, three reads of hazards, the calendar of 2026 (overrides, loaded year), county names
    with django_assert_max_num_queries(8):
        report = metrics.figures(user, *OCTOBER)
    assert report.total.closed == 3 + 60
    # The API and the page stay constant too.
    api = APIClient()
    api.force_authenticate(fresh(city_office))
    with django_assert_max_num_queries(12):
        assert api.get("/api/v1/hazard-metrics/", {"from": "2026-10-01"}).status_code == 200
