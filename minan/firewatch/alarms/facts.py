"""What the fire-alarm module tells other modules: the open-alarm figure per institution shown on the
包保 pages (`minan.core.figures`). Registered when the app is ready."""

from __future__ import annotations

from django.db.models import Count

from minan.core import figures
from minan.firewatch.models import Alarm


def open_alarms(ids: list[int]) -> dict[int, int]:
    rows = (
        Alarm.objects.filter(institution_id__in=ids, closed_at__isnull=True)
        .values_list("institution_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


figures.register("open_alarms", open_alarms)
