"""Reads of 回头看 (revisits) shared by the page and reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count

from minan.hazards.models import Revisit


def revisit_rates(user: Any, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    """Outcomes of the revisits drawn in a period, inside the user's scope."""
    rows = dict(
        Revisit.objects.for_user(user)
        .filter(draw__drawn_at__date__gte=date_from, draw__drawn_at__date__lte=date_to)
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    checked = rows.get(Revisit.Outcome.PASSED, 0) + rows.get(Revisit.Outcome.FAILED, 0)
    return {
        "drawn": sum(rows.values()),
        "pending": rows.get(Revisit.Outcome.PENDING, 0),
        "passed": rows.get(Revisit.Outcome.PASSED, 0),
        "failed": rows.get(Revisit.Outcome.FAILED, 0),
        "failure_rate": round(100 * rows.get(Revisit.Outcome.FAILED, 0) / checked, 1) if checked else None,
    }
