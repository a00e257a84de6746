"""What hazards tell other modules: classification facts and the open-hazard figure
shown on the 包保 pages. Registered when the app is ready."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from minan.core import figures
from minan.institutions.classification import derive as classification

from .models import Hazard
from .workflow import OPEN_STATES, overdue_q


def _counts(ids: list[int], *conditions: Q, **filters: object) -> dict[int, int]:
    rows = (
        Hazard.objects.filter(*conditions, institution_id__in=ids, status__in=OPEN_STATES, **filters)
        .values_list("institution_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def open_major(ids: list[int], today: dt.date) -> dict[int, int]:
    return _counts(ids, level=Hazard.Level.MAJOR)


def overdue_general(ids: list[int], today: dt.date) -> dict[int, int]:
    return _counts(ids, overdue_q(today), level=Hazard.Level.GENERAL)


def open_hazards(ids: list[int]) -> dict[int, int]:
    return _counts(ids)


classification.register_fact("open_major_hazards", open_major)
classification.register_fact("overdue_general_hazards", overdue_general)
figures.register("open_hazards", open_hazards)
