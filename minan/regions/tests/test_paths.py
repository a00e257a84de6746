"""Cutting region paths: the one set of helpers every app uses."""

from __future__ import annotations

import pytest

from minan.regions import paths

TOWN = "370000/370800/370811/370811001/"


@pytest.mark.parametrize(
    ("path", "depth", "expected"),
    [
        (TOWN, paths.PROVINCE, "370000/"),
        (TOWN, paths.CITY, "370000/370800/"),
        (TOWN, paths.COUNTY, "370000/370800/370811/"),
        (TOWN, 4, TOWN),
        (TOWN, 9, TOWN),
        ("370000/370800/", paths.COUNTY, "370000/370800/"),  # not that deep: itself
    ],
)
def test_ancestor(path: str, depth: int, expected: str) -> None:
    assert paths.ancestor(path, depth) == expected


def test_ancestors_from_the_root_down() -> None:
    assert paths.ancestors(TOWN) == ["370000/", "370000/370800/", "370000/370800/370811/", TOWN]
    assert paths.ancestors("370000/") == ["370000/"]


def test_the_county() -> None:
    assert paths.county_of(TOWN) == "370000/370800/370811/"
    assert paths.county_of("370000/370800/370811/") == "370000/370800/370811/"
    assert paths.county_of("370000/370800/") == ""  # above county level
    assert paths.county_code(TOWN) == "370811"
    assert paths.county_code("370000/370800/") == "370800"  # above: the deepest code there is
    assert paths.county_code("") == ""


def test_own_code_is_where_the_path_ends() -> None:
    assert paths.own_code(TOWN) == TOWN.rstrip("/").rsplit("/", 1)[-1]
    assert paths.own_code("370000/370800/370811/") == "370811"
    assert paths.own_code("") == ""
