"""Per-institution figures that one module provides and others show (the ledger, "my institutions").

A module registers a batched source, e.g. the hazards module ``register("open_hazards", fn)`` and the
fire-alarm module ``register("open_alarms", fn)``, where ``fn(institution_ids) -> {id: value}`` returns
the non-zero values. Pages call ``values(code, ids)``: None means no module provides the figure yet, so
a page shows "—" instead of a misleading 0.
"""

from __future__ import annotations

from collections.abc import Callable

Source = Callable[[list[int]], dict[int, int]]

_SOURCES: dict[str, Source] = {}


def register(code: str, fn: Source) -> None:
    _SOURCES[code] = fn


def unregister(code: str) -> None:
    _SOURCES.pop(code, None)


def values(code: str, ids: list[int]) -> dict[int, int] | None:
    source = _SOURCES.get(code)
    return None if source is None else source(ids)
