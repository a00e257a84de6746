"""Working-day calendar: counting rules, 2026 data, overrides, loaded years, services,
the calendar page and the `calendar` management command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from conftest import login_client
from minan.core import services
from minan.core.audit.models import AuditEvent
from minan.core.calendar import (
    CalendarNotLoaded,
    add_calendar_days,
    add_working_days,
    is_workday,
    missing_year_warning,
    working_days_between,
)
from minan.core.errors import DomainError, NotPermitted
from minan.core.models import CalendarOverride, CalendarYear

D = dt.date
SOURCE_2027 = "国办发明电〔2026〕X号"
NOVEMBER_28 = "2026-11-28 10:00 +0800"


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from start to end, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def audit_count(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def admin(make_user: Callable[..., Any]) -> Any:
    return make_user("sysadmin", roles=["system_admin"])


@pytest.fixture
def loaded_2027(admin: Any) -> None:
    """2027 entered by hand, with 2027-01-01 (Friday, 元旦) as a rest day."""
    services.load_year(admin, 2027, SOURCE_2027)
    services.set_override(admin, D(2027, 1, 1), False, "元旦")


# --- reference cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (D(2026, 9, 30), 5, D(2026, 10, 13)),
        (D(2026, 2, 13), 3, D(2026, 2, 25)),  # 02-14 is a working Saturday
        (D(2026, 4, 30), 1, D(2026, 5, 6)),
        (D(2026, 12, 24), 5, D(2026, 12, 31)),
        (D(2026, 10, 3), 0, D(2026, 10, 8)),  # today-or-next working day
    ],
)
def test_add_working_days_vectors(db: Any, start: dt.date, n: int, expected: dt.date) -> None:
    assert add_working_days(start, n) == expected


def test_six_working_days_after_christmas_eve_needs_2027(db: Any) -> None:
    with pytest.raises(CalendarNotLoaded) as exc:
        add_working_days(D(2026, 12, 24), 6)
    assert exc.value.year == 2027
    assert exc.value.code == "calendar_not_loaded"
    assert "2027" in exc.value.message


def test_thirty_calendar_days_ending_on_a_rest_day_move_to_the_next_working_day(db: Any) -> None:
    # 2026-09-05 + 30 days = 2026-10-05, inside the National Day break → 2026-10-08.
    assert add_calendar_days(D(2026, 9, 5), 30) == D(2026, 10, 8)


def test_calendar_days_ending_on_a_working_day_stay(db: Any) -> None:
    assert add_calendar_days(D(2026, 9, 5), 3) == D(2026, 9, 8)  # a Tuesday
    assert add_calendar_days(D(2026, 2, 4), 10) == D(2026, 2, 14)  # 调休 working Saturday


def test_negative_working_days_are_refused(db: Any) -> None:
    with pytest.raises(ValueError):
        add_working_days(D(2026, 9, 30), -1)


# --- 2026 data --------------------------------------------------------------------------


def test_spring_festival_2026(db: Any) -> None:
    assert is_workday(D(2026, 2, 14))  # Saturday, 调休 working day
    assert is_workday(D(2026, 2, 28))  # Saturday, 调休 working day
    assert not any(is_workday(d) for d in days(D(2026, 2, 15), D(2026, 2, 23)))
    assert is_workday(D(2026, 2, 13))
    assert is_workday(D(2026, 2, 24))
    # Working days in (02-13, 02-27], by hand from the 2026 holiday notice:
    #   02-14 Sat  调休 working day   → 1
    #   02-15 Sun – 02-23 Mon rest     → 0
    #   02-24 Tue, 25 Wed, 26 Thu, 27 Fri → 4
    #   total 5
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 27)) == 5
    assert working_days_between(D(2026, 2, 27), D(2026, 2, 13)) == -5


def test_national_day_2026(db: Any) -> None:
    assert D(2026, 9, 20).isoweekday() == 7 and is_workday(D(2026, 9, 20))
    assert D(2026, 10, 10).isoweekday() == 6 and is_workday(D(2026, 10, 10))
    assert not any(is_workday(d) for d in days(D(2026, 10, 1), D(2026, 10, 7)))
    # (09-30, 10-13]: 10-08 Thu, 09 Fri, 10 Sat (调休), 12 Mon, 13 Tue.
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 13)) == 5


def test_other_2026_breaks(db: Any) -> None:
    assert not any(is_workday(d) for d in days(D(2026, 1, 1), D(2026, 1, 3)))
    assert is_workday(D(2026, 1, 4))  # Sunday worked
    assert not any(is_workday(d) for d in days(D(2026, 5, 1), D(2026, 5, 5)))
    assert is_workday(D(2026, 5, 9))  # Saturday worked
    assert not any(is_workday(d) for d in days(D(2026, 9, 25), D(2026, 9, 27)))


@pytest.mark.parametrize(
    "start",
    [
        D(2026, 1, 1),
        D(2026, 1, 3),
        D(2026, 2, 13),
        D(2026, 2, 14),
        D(2026, 2, 15),
        D(2026, 2, 20),
        D(2026, 4, 30),
        D(2026, 5, 1),
        D(2026, 9, 19),
        D(2026, 9, 24),
        D(2026, 9, 30),
        D(2026, 10, 3),
        D(2026, 10, 9),
        D(2026, 12, 15),
    ],
)
def test_between_and_add_are_consistent(db: Any, start: dt.date) -> None:
    for n in range(1, 12):
        end = add_working_days(start, n)
        assert working_days_between(start, end) == n, (start, n, end)
        assert is_workday(end)
        # The day before the n-th working day still has only n - 1 working days.
        assert working_days_between(start, end - dt.timedelta(days=1)) == n - 1


def test_2026_has_248_working_days(db: Any) -> None:
    assert sum(is_workday(d) for d in days(D(2026, 1, 1), D(2026, 12, 31))) == 248
    assert working_days_between(D(2025, 12, 31), D(2026, 12, 31)) == 248


# --- overrides and loaded years -----------------------------------------------------------------


def test_override_wins_over_the_package(admin: Any) -> None:
    assert add_working_days(D(2026, 9, 30), 5) == D(2026, 10, 13)
    services.set_override(admin, D(2026, 10, 12), False, "测试")
    assert not is_workday(D(2026, 10, 12))
    assert add_working_days(D(2026, 9, 30), 5) == D(2026, 10, 14)
    # And the other way round: a package rest day declared a working day.
    services.set_override(admin, D(2026, 10, 7), True, "测试")
    assert add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 7)


def test_unloaded_year_never_falls_back_to_weekdays(admin: Any) -> None:
    with pytest.raises(CalendarNotLoaded):
        is_workday(D(2027, 1, 4))  # a Monday
    with pytest.raises(CalendarNotLoaded) as exc:
        is_workday(D(2003, 6, 2))  # before the package's coverage
    assert exc.value.year == 2003
    # Override entries alone do not make a year loaded: other dates still fail.
    services.set_override(admin, D(2027, 1, 1), False, "元旦")
    assert not is_workday(D(2027, 1, 1))
    with pytest.raises(CalendarNotLoaded):
        is_workday(D(2027, 1, 4))


def test_loaded_year_counts_monday_to_friday_except_overrides(admin: Any, loaded_2027: None) -> None:
    # From 2026-12-24 (Thursday): 12-25 Fri (1), 12-28 Mon (2), 29 (3), 30 (4), 31 Thu (5);
    # 2027-01-01 Fri is the 元旦 rest day, 01-02 Sat and 01-03 Sun rest → 01-04 Mon is the 6th.
    assert add_working_days(D(2026, 12, 24), 6) == D(2027, 1, 4)
    week = days(D(2027, 1, 4), D(2027, 1, 10))  # Monday .. Sunday
    assert [is_workday(d) for d in week] == [True] * 5 + [False] * 2
    assert not is_workday(D(2027, 1, 1))
    # A hypothetical 调休 working Saturday entered by hand counts as a working day.
    services.set_override(admin, D(2027, 1, 9), True, "测试")
    assert is_workday(D(2027, 1, 9))
    assert working_days_between(D(2027, 1, 3), D(2027, 1, 10)) == 6
    # 2028 is still not loaded.
    with pytest.raises(CalendarNotLoaded) as exc:
        add_working_days(D(2027, 12, 30), 5)
    assert exc.value.year == 2028


def test_missing_year_warning(admin: Any, settings: Any) -> None:
    settings.CALENDAR_WARN_FROM = "11-01"
    warning = missing_year_warning(D(2026, 11, 28))
    assert warning is not None and "2027" in warning
    assert missing_year_warning(D(2026, 11, 1)) is not None  # the warn date itself
    assert missing_year_warning(D(2026, 10, 31)) is None
    assert missing_year_warning(D(2026, 6, 1)) is None
    assert missing_year_warning(D(2026, 11, 28), "12-01") is None
    # An unloaded current year always warns.
    warning = missing_year_warning(D(2027, 3, 1))
    assert warning is not None and "2027" in warning
    services.load_year(admin, 2027, SOURCE_2027)
    assert missing_year_warning(D(2026, 11, 28)) is None
    assert missing_year_warning(D(2027, 3, 1)) is None
    assert "2028" in (missing_year_warning(D(2027, 11, 1)) or "")


def test_missing_year_warning_accepts_a_leap_day_setting(db: Any) -> None:
    assert missing_year_warning(D(2026, 2, 28), "02-29") is None
    assert "2027" in (missing_year_warning(D(2026, 3, 1), "02-29") or "")


# --- services: permission, validation, audit ----------------------------------------------------


def test_load_year_needs_the_change_permission(city_office: Any) -> None:
    assert city_office.has_perm("core.view_calendaroverride")
    assert not city_office.has_perm("core.change_calendaroverride")
    with pytest.raises(NotPermitted):
        services.load_year(city_office, 2027, SOURCE_2027)
    with pytest.raises(NotPermitted):
        services.set_override(city_office, D(2026, 10, 12), False, "测试")
    assert not CalendarYear.objects.exists()
    assert not CalendarOverride.objects.exists()
    assert audit_count("calendar.load_year") == 0
    assert audit_count("calendar.override") == 0


def test_delete_override_needs_the_change_permission(admin: Any, city_office: Any) -> None:
    entry = services.set_override(admin, D(2026, 10, 12), False, "测试")
    with pytest.raises(NotPermitted):
        services.delete_override(city_office, entry)
    assert CalendarOverride.objects.filter(pk=entry.pk).exists()
    assert audit_count("calendar.override_delete") == 0


def test_load_year_is_audited_once_and_refuses_a_second_load(admin: Any) -> None:
    entry = services.load_year(admin, 2027, SOURCE_2027)
    assert (entry.year, entry.source, entry.entered_by) == (2027, SOURCE_2027, admin)
    events = AuditEvent.objects.filter(action="calendar.load_year")
    assert events.count() == 1
    event = events.get()
    assert (event.user, event.object_type, event.object_id) == (admin, "core.calendaryear", str(entry.pk))
    assert event.detail == SOURCE_2027
    with pytest.raises(DomainError) as exc:
        services.load_year(admin, 2027, "another notice")
    assert exc.value.code == "duplicate"
    assert CalendarYear.objects.get(year=2027).source == SOURCE_2027
    assert audit_count("calendar.load_year") == 1


@pytest.mark.parametrize(
    ("year", "source"), [(2027, ""), (2027, "   "), (1999, SOURCE_2027), (2101, SOURCE_2027)]
)
def test_load_year_validates(admin: Any, year: int, source: str) -> None:
    with pytest.raises(DomainError):
        services.load_year(admin, year, source)
    assert not CalendarYear.objects.exists()
    assert audit_count("calendar.load_year") == 0


def test_override_writes_are_audited_once_each(admin: Any) -> None:
    entry = services.set_override(admin, D(2026, 10, 12), False, "测试")
    assert audit_count("calendar.override") == 1
    event = AuditEvent.objects.get(action="calendar.override")
    assert event.changes == {"is_workday": [None, False]}
    assert (event.user, event.object_type, event.object_id) == (admin, "core.calendaroverride", str(entry.pk))

    # Changing the same date updates the entry and records the old value.
    again = services.set_override(admin, D(2026, 10, 12), True, "测试")
    assert again.pk == entry.pk and CalendarOverride.objects.count() == 1
    assert audit_count("calendar.override") == 2
    assert AuditEvent.objects.filter(action="calendar.override").latest("pk").changes == {
        "is_workday": [False, True]
    }

    services.delete_override(admin, again)
    assert not CalendarOverride.objects.exists()
    assert audit_count("calendar.override_delete") == 1
    assert AuditEvent.objects.get(action="calendar.override_delete").object_id == str(entry.pk)
    assert add_working_days(D(2026, 9, 30), 5) == D(2026, 10, 13)


# --- the calendar page --------------------------------------------------------------------------


@time_machine.travel(NOVEMBER_28)
def test_page_shows_2027_not_loaded(client: Any, admin: Any) -> None:
    response = login_client(client, admin).get(reverse("core:calendar"))
    assert response.status_code == 200
    rows = {year: (covered, entry) for year, covered, entry in response.context["year_rows"]}
    assert rows[2026] == (True, None)
    assert rows[2027] == (False, None)
    assert "2027" in response.context["warning"]
    assert response.context["can_edit"] is True
    assert "2027" in response.content.decode()


@time_machine.travel(NOVEMBER_28)
def test_page_shows_a_loaded_year_with_its_source(client: Any, admin: Any, loaded_2027: None) -> None:
    response = login_client(client, admin).get(reverse("core:calendar"))
    assert response.status_code == 200
    rows = {year: entry for year, _covered, entry in response.context["year_rows"]}
    assert rows[2027] is not None and rows[2027].source == SOURCE_2027
    assert response.context["warning"] is None
    assert SOURCE_2027 in response.content.decode()


@time_machine.travel(NOVEMBER_28)
def test_admin_adds_an_override(client: Any, admin: Any) -> None:
    url = reverse("core:calendar")
    response = login_client(client, admin).post(
        url, {"action": "override", "date": "2026-10-12", "is_workday": "0", "name": "测试"}
    )
    assert response.status_code == 302
    assert response["Location"] == url
    entry = CalendarOverride.objects.get()
    assert (entry.date, entry.is_workday, entry.name, entry.entered_by) == (
        D(2026, 10, 12),
        False,
        "测试",
        admin,
    )
    assert audit_count("calendar.override") == 1
    assert add_working_days(D(2026, 9, 30), 5) == D(2026, 10, 14)


@time_machine.travel(NOVEMBER_28)
def test_admin_loads_a_year_and_deletes_an_override(client: Any, admin: Any) -> None:
    url = reverse("core:calendar")
    login_client(client, admin)
    response = client.post(url, {"action": "load-year", "year": "2027", "source": SOURCE_2027})
    assert response.status_code == 302
    assert CalendarYear.objects.get().source == SOURCE_2027
    entry = services.set_override(admin, D(2027, 1, 1), False, "元旦")
    response = client.post(url, {"action": "delete-override", "id": str(entry.pk)})
    assert response.status_code == 302
    assert not CalendarOverride.objects.exists()
    assert audit_count("calendar.override_delete") == 1


@time_machine.travel(NOVEMBER_28)
def test_admin_override_with_an_invalid_date_is_refused(client: Any, admin: Any) -> None:
    response = login_client(client, admin).post(
        reverse("core:calendar"),
        {"action": "override", "date": "2026-13-40", "is_workday": "0", "name": "测试"},
    )
    assert response.status_code == 400
    assert response.context["override_form"].errors["date"]
    assert not CalendarOverride.objects.exists()
    assert audit_count("calendar.override") == 0


@time_machine.travel(NOVEMBER_28)
def test_city_office_can_view_but_not_edit(client: Any, city_office: Any) -> None:
    login_client(client, city_office)
    response = client.get(reverse("core:calendar"))
    assert response.status_code == 200
    assert response.context["can_edit"] is False
    response = client.post(
        reverse("core:calendar"),
        {"action": "override", "date": "2026-10-12", "is_workday": "0", "name": "测试"},
    )
    assert response.status_code == 400
    assert response.context["override_form"].non_field_errors()
    response = client.post(
        reverse("core:calendar"), {"action": "load-year", "year": "2027", "source": SOURCE_2027}
    )
    assert response.status_code == 400
    assert not CalendarOverride.objects.exists()
    assert not CalendarYear.objects.exists()
    assert audit_count("calendar.override") == 0
    assert audit_count("calendar.load_year") == 0


def test_cadre_cannot_see_the_calendar(client: Any, make_user: Callable[..., Any]) -> None:
    cadre = make_user("cadre1", roles=["cadre"])
    response = login_client(client, cadre).get(reverse("core:calendar"))
    assert response.status_code == 403


def test_anonymous_is_sent_to_login(client: Any, db: Any) -> None:
    response = client.get(reverse("core:calendar"))
    assert response.status_code == 302
    assert reverse("core:calendar") not in response["Location"].split("?")[0]


# --- `calendar` management command --------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("calendar", *args, stdout=out)
    return out.getvalue()


def status_lines(out: str) -> dict[int, str]:
    return {int(line[:4]): line for line in out.splitlines() if line[:4].isdigit()}


@time_machine.travel(NOVEMBER_28)
def test_status_fails_when_next_year_is_missing_after_the_warn_date(db: Any, settings: Any) -> None:
    settings.CALENDAR_WARN_FROM = "11-01"
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("calendar", "status", stdout=out)
    assert exc.value.returncode == 1
    assert "2027" in str(exc.value)
    lines = status_lines(out.getvalue())
    assert sorted(lines) == [2025, 2026, 2027]
    assert "chinesecalendar" in lines[2025] and "chinesecalendar" in lines[2026]
    assert "NOT LOADED" in lines[2027]


@time_machine.travel(NOVEMBER_28)
def test_status_passes_once_next_year_is_loaded(admin: Any, loaded_2027: None, settings: Any) -> None:
    settings.CALENDAR_WARN_FROM = "11-01"
    lines = status_lines(out := run("status"))
    assert f"entered by hand ({SOURCE_2027}" in lines[2027]
    assert "sysadmin" in lines[2027]
    assert "[1 override entries]" in lines[2027]
    assert "NOT LOADED" not in out
    assert out.rstrip().endswith("OK")


@time_machine.travel("2026-06-01 10:00 +0800")
def test_status_before_the_warn_date_reports_but_passes(db: Any, settings: Any) -> None:
    settings.CALENDAR_WARN_FROM = "11-01"
    lines = status_lines(run("status"))
    assert "NOT LOADED" in lines[2027]


@time_machine.travel(NOVEMBER_28)
def test_status_honours_the_warn_date_setting(db: Any, settings: Any) -> None:
    settings.CALENDAR_WARN_FROM = "12-01"
    assert "NOT LOADED" in status_lines(run("status"))[2027]


@time_machine.travel("2027-01-01 00:30 +0800")
def test_status_uses_the_shanghai_day(db: Any) -> None:
    # 16:30 UTC on 2026-12-31 is already 2027 in Asia/Shanghai: the years shown are 2026 .. 2028,
    # and the current year 2027 is not loaded.
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("calendar", "status", stdout=out)
    assert "2027" in str(exc.value)
    lines = status_lines(out.getvalue())
    assert sorted(lines) == [2026, 2027, 2028]
    assert "NOT LOADED" in lines[2027] and "NOT LOADED" in lines[2028]


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [("2026-09-30", "5", "2026-10-13"), ("2026-02-13", "3", "2026-02-25"), ("2026-10-03", "0", "2026-10-08")],
)
def test_add_working_days_command(db: Any, start: str, n: str, expected: str) -> None:
    assert run("add-working-days", start, n).strip() == expected


def test_add_working_days_command_into_a_loaded_year(admin: Any, loaded_2027: None) -> None:
    assert run("add-working-days", "2026-12-24", "6").strip() == "2027-01-04"


def test_add_working_days_command_reports_an_unloaded_year(db: Any) -> None:
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("calendar", "add-working-days", "2026-12-24", "6", stdout=out)
    assert "2027" in str(exc.value)
    assert exc.value.returncode == 1
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("start", "n"), [("2026-13-40", "1"), ("tomorrow", "1"), ("2026-09-30", "-1"), ("2026-09-30", "x")]
)
def test_add_working_days_command_rejects_bad_input(db: Any, start: str, n: str) -> None:
    with pytest.raises(CommandError):
        call_command("calendar", "add-working-days", start, n, stdout=StringIO())


def test_command_needs_a_subcommand(db: Any) -> None:
    with pytest.raises(CommandError):
        call_command("calendar", stdout=StringIO())
