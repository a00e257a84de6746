"""Property tests of the USCC check and the working-day calendar."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from hypothesis import assume, given
from hypothesis import strategies as st

from minan.core import calendar
from minan.core.identifiers import USCC_ALPHABET, check_uscc, uscc_check_character
from minan.core.models import CalendarOverride, CalendarYear
from minan.core.tests.properties import PURE, SERVICES

# ---------------------------------------------------------------------------------------------
# USCC (GB 32100-2015): the 17 characters before the check character, as the format allows them.


def _chars(allowed: str) -> st.SearchStrategy[str]:
    return st.sampled_from([c for c in allowed if c in USCC_ALPHABET])


DIGITS = "0123456789"
first17 = st.tuples(
    _chars("123456789ANY"),
    _chars("123459"),
    st.text(alphabet=DIGITS, min_size=6, max_size=6),
    st.text(
        alphabet=[c for c in DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c in USCC_ALPHABET],
        min_size=8,
        max_size=8,
    ),
    _chars(DIGITS + "X"),
).map("".join)


@PURE
@given(body=first17, lower=st.booleans())
def test_a_code_with_its_computed_check_character_passes(body: str, lower: bool) -> None:
    code = body + uscc_check_character(body)
    result = check_uscc(code.lower() if lower else code)
    assert result.valid, result
    assert result.error == ""


@PURE
@given(body=first17, position=st.integers(0, 17), replacement=st.characters(codec="utf-8"))
def test_any_single_character_change_fails(body: str, position: int, replacement: str) -> None:
    code = body + uscc_check_character(body)
    assume(replacement.upper() != code[position])
    changed = code[:position] + replacement + code[position + 1 :]
    result = check_uscc(changed)
    assert not result.valid, changed
    assert result.error in {"format", "alphabet", "check"}


@PURE
@given(body=first17, position=st.integers(0, 16), replacement=st.sampled_from(USCC_ALPHABET))
def test_a_substitution_inside_the_alphabet_is_caught_by_the_check_character(
    body: str, position: int, replacement: str
) -> None:
    code = body + uscc_check_character(body)
    assume(replacement != code[position])
    changed = code[:position] + replacement + code[position + 1 :]
    result = check_uscc(changed)
    assert not result.valid
    if result.error == "check":  # the format allowed the new character: the check character caught it
        assert result.expected == uscc_check_character(changed[:17]) != changed[17]


# ---------------------------------------------------------------------------------------------
# Working-day calendar: package years (2024-2026), a loaded year (2027) and override entries.

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2027, 9, 30)
dates = st.dates(min_value=FIRST, max_value=LAST)
overrides = st.dictionaries(dates, st.booleans(), max_size=12)


@pytest.fixture
def loaded_2027(db: Any) -> None:
    CalendarYear.objects.create(year=2027, source="test")


def _with_overrides(entries: dict[dt.date, bool], check: Any) -> None:
    """Run `check` with these override entries, then roll them back (examples share the database)."""
    with transaction.atomic():
        CalendarOverride.objects.bulk_create(
            CalendarOverride(date=day, is_workday=work) for day, work in entries.items()
        )
        check()
        transaction.set_rollback(True)


@SERVICES
@given(start=dates, n=st.integers(0, 40), entries=overrides)
def test_adding_n_working_days_then_counting_back_gives_n(
    loaded_2027: None, start: dt.date, n: int, entries: dict[dt.date, bool]
) -> None:
    def check() -> None:
        end = calendar.add_working_days(start, n)
        days = calendar.WorkingDays()
        assert end >= start
        assert days.is_workday(end)  # never lands on a rest day
        if n == 0:  # "0 days": the start itself when it is a working day, else the next working day
            assert calendar.working_days_between(start, end) == (0 if days.is_workday(start) else 1)
            assert not any(days.is_workday(start + dt.timedelta(days=i)) for i in range((end - start).days))
            return
        assert calendar.working_days_between(start, end) == n
        assert calendar.working_days_between(end, start) == -n
        # the days strictly between hold exactly n - 1 working days
        between = [start + dt.timedelta(days=i) for i in range(1, (end - start).days)]
        assert sum(days.is_workday(day) for day in between) == n - 1

    _with_overrides(entries, check)


@SERVICES
@given(
    start=dates, later=st.integers(0, 20), n=st.integers(0, 40), more=st.integers(0, 20), entries=overrides
)
def test_adding_working_days_is_monotonic(
    loaded_2027: None, start: dt.date, later: int, n: int, more: int, entries: dict[dt.date, bool]
) -> None:
    def check() -> None:
        base = calendar.add_working_days(start, n)
        assert calendar.add_working_days(start, n + more) >= base
        assert calendar.add_working_days(start + dt.timedelta(days=later), n) >= base
        if more:
            assert calendar.add_working_days(start, n + more) > base

    _with_overrides(entries, check)


@SERVICES
@given(start=dates, n=st.integers(0, 60))
def test_a_deadline_in_a_year_nobody_loaded_is_refused_not_guessed(db: Any, start: dt.date, n: int) -> None:
    """Without 2027 loaded, a count that reaches 2027 raises CalendarNotLoaded; one that stays in the
    package years answers a working day."""
    try:
        end = calendar.add_working_days(start, n)
    except calendar.CalendarNotLoaded as exc:
        assert exc.year == 2027
        return
    assert end.year <= 2026
    assert calendar.is_workday(end)
