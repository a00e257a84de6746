"""Region paths: a region's codes from the root down, each followed by "/" ("370000/370800/370811/").
Depth 1 is the province, 2 the city, 3 the county, 4 the town. Every app cuts paths with these."""

from __future__ import annotations

PROVINCE, CITY, COUNTY = 1, 2, 3


def codes(path: str) -> list[str]:
    return [code for code in path.split("/") if code]


def own_code(path: str) -> str:
    """The code of the place a path ends at: `370000/370800/370811/` → `370811`."""
    found = codes(path)
    return found[-1] if found else ""


def ancestor(path: str, depth: int) -> str:
    """The path of the region at `depth` above or at this one (the path itself when it is not that deep)."""
    return "".join(f"{code}/" for code in codes(path)[:depth]) or "/"


def ancestors(path: str) -> list[str]:
    """Every region's path from the root down to this one, itself included."""
    found = codes(path)
    return ["".join(f"{code}/" for code in found[:n]) for n in range(1, len(found) + 1)]


def county_of(path: str) -> str:
    """The county's path; "" above county level."""
    found = codes(path)
    return ancestor(path, COUNTY) if len(found) >= COUNTY else ""


def county_code(path: str) -> str:
    """The county's code; above county level, the deepest code there is."""
    found = codes(path)
    return found[COUNTY - 1] if len(found) >= COUNTY else (found[-1] if found else "")
