"""The hazard ledger (隐患台账): the filters shared by the ledger page and its export, the export layout,
and small read helpers of the pages (overdue flag, missing 五落实 items).

Everything here works on a queryset already read through `Hazard.objects.for_user`; nothing widens it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from minan.core.period import clamp

from .models import Category, Hazard, Source
from .services import PLAN_FIELDS
from .workflow import OPEN_STATES, overdue_q

OPEN = "open"  # pseudo-status of the status filter: every open state

# The official ledger layout: Chinese headers whatever the language of the person exporting.
EXPORT_HEADERS = [
    "序号", "机构", "隐患描述", "等级", "发现时间", "整改措施", "责任人", "期限", "状态", "验收人", "销号时间",
]  # fmt: skip
EXPORT_TITLE = "隐患台账"


def _date(value: Any) -> dt.date | None:
    try:
        return clamp(dt.date.fromisoformat(str(value or "").strip()[:10]))
    except ValueError:
        return None


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filter_hazards(qs: QuerySet[Hazard], params: Mapping[str, Any], today: dt.date) -> QuerySet[Hazard]:
    """Apply the ledger filters to a scoped queryset, newest first. Unknown values are ignored.

    region: county (or any region) code; institution: id; level, category, source: a listed value;
    status: a state or "open"; overdue=1 (or true): see `workflow.overdue_q`; paused=1 (or true): the
    deadline clock stands still; found_from / found_to: YYYY-MM-DD, local dates, both ends included."""
    if (region := str(params.get("region", "")).strip()).isdigit():
        qs = qs.filter(Q(region_path__startswith=f"{region}/") | Q(region_path__contains=f"/{region}/"))
    if (institution := str(params.get("institution", "")).strip()).isdigit():
        qs = qs.filter(institution_id=int(institution))
    if (level := params.get("level")) in Hazard.Level.values:
        qs = qs.filter(level=level)
    if (category := params.get("category")) in Category.values:
        qs = qs.filter(category=category)
    if (source := params.get("source")) in Source.values:
        qs = qs.filter(source=source)
    status = params.get("status")
    if status == OPEN:
        qs = qs.filter(status__in=OPEN_STATES)
    elif status in Hazard.Status.values:
        qs = qs.filter(status=status)
    if params.get("overdue") in {"1", "true"}:
        qs = qs.filter(overdue_q(today))
    if params.get("paused") in {"1", "true"}:
        qs = qs.filter(paused_since__isnull=False)
    if found_from := _date(params.get("found_from")):
        qs = qs.filter(found_at__gte=_day_start(found_from))
    if found_to := _date(params.get("found_to")):
        qs = qs.filter(found_at__lt=_day_start(found_to + dt.timedelta(days=1)))
    return qs.order_by("-found_at", "-id")


def with_overdue(qs: QuerySet[Hazard], today: dt.date) -> QuerySet[Any]:
    """Annotate `overdue` (see `is_overdue`) for list pages."""
    late = When(overdue_q(today), then=Value(True))
    return qs.annotate(overdue=Case(late, default=Value(False), output_field=BooleanField()))


def is_overdue(hazard: Hazard, today: dt.date) -> bool:
    """`workflow.overdue_q` for one hazard already read."""
    return (
        hazard.deadline is not None
        and hazard.deadline < today
        and hazard.status in OPEN_STATES
        and hazard.paused_since is None
    )


def missing_guarantees(hazard: Hazard) -> list[str]:
    """The labels of the 五落实 fields still empty."""
    return [
        str(getattr(Hazard._meta.get_field(name), "verbose_name", name))
        for name in PLAN_FIELDS
        if not getattr(hazard, name)
    ]


def measures(hazard: Hazard) -> str:
    """整改措施: what was done once submitted, the notice's requirement before."""
    return hazard.measures_taken or hazard.requirement


def status_text(hazard: Hazard) -> str:
    """The status as the ledger shows it: a paused deadline clock is part of it."""
    if hazard.paused_since is None:
        return str(hazard.get_status_display())
    return _("%(status)s (paused since %(date)s)") % {
        "status": hazard.get_status_display(),
        "date": hazard.paused_since.isoformat(),
    }


def export_rows(hazards: Iterable[Hazard]) -> list[list[Any]]:
    """One row per hazard in the ledger layout of EXPORT_HEADERS (values in Chinese, like the headers)."""
    rows = []
    with translation.override("zh-hans"):
        for number, h in enumerate(hazards, start=1):
            rows.append([
                number, h.institution.name, h.description, h.get_level_display(), h.found_at, measures(h),
                h.responsible_person, h.deadline or "", status_text(h),
                h.accepted_by.display_name if h.accepted_by else "", h.closed_at or "",
            ])  # fmt: skip
    return rows
