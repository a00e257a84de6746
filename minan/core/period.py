"""The reporting period of a figures page or API: query parameters `from` and `to` (YYYY-MM-DD)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from .errors import DomainError

# Dates accepted for a period: outside these the local day boundaries cannot be computed safely.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)


def clamp(day: dt.date) -> dt.date:
    """A filter date brought inside EARLIEST..LATEST, which keeps what it selects (MinAn holds no
    rows outside) and its local day boundaries computable: 0001-01-01 at midnight in Asia/Shanghai
    is before year 1 in UTC, and 9999-12-31 has no next day."""
    return min(max(day, EARLIEST), LATEST)


def parse_period(params: Mapping[str, Any], default: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    """`from` and `to`, either of which may be left out (the default's start or end). A malformed
    date, or a start after the end, raises DomainError naming the field."""
    start, end = default
    for name in ("from", "to"):
        raw = str(params.get(name) or "").strip()
        if not raw:
            continue
        try:
            day: dt.date | None = dt.date.fromisoformat(raw)
        except ValueError:
            day = None
        if day is None or len(raw) != 10 or not EARLIEST <= day <= LATEST:
            raise DomainError(
                _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw[:20]},
                code="invalid_date",
                field=name,
            )
        if name == "from":
            start = day
        else:
            end = day
    if start > end:
        raise DomainError(_("The start of the period is after its end."), code="invalid_period", field="from")
    return start, end
