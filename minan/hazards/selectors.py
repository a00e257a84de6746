"""Reads of hazards shared by the pages, the API, the export and the services: the ledger (隐患台账)
filters, the export layout and small read helpers of the pages (overdue flag, missing 五落实 items);
who may see, supervise and pause a hazard; the deadline a notice gives.

The ledger reads work on a queryset already read through `Hazard.objects.for_user`; nothing widens it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from minan.accounts.models import UserScope
from minan.accounts.roles import CITY_SAFETY_OFFICE, COUNTY_OFFICER
from minan.core.errors import OutOfScope
from minan.core.period import clamp
from minan.core.scoping import region_within_scope
from minan.regions import paths

from .models import Category, CategorySetting, Hazard, Source
from .workflow import OPEN_STATES, PLAN_FIELDS, overdue_q

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


# --- who may see, supervise and pause a hazard; the deadline a notice gives ------------------------------


def visible_hazard(actor: Any, hazard: Hazard) -> Hazard:
    """The hazard read again through the actor's scope (as it is now), or "not found".
    Without an actor (MinAn itself) the hazard as given."""
    found = Hazard.objects.for_user(actor).filter(pk=hazard.pk).first() if actor is not None else hazard
    if found is None:
        raise OutOfScope(_("Hazard not found."))
    return found


def deadline_days(category: str, level: str) -> int:
    """The working days a rectification notice gives by default (the category's setting, else 30 / 5)."""
    setting = CategorySetting.objects.filter(category=category).first()
    if setting is None:
        return 30 if level == Hazard.Level.MAJOR else 5
    return setting.major_days if level == Hazard.Level.MAJOR else setting.general_days


def supervising_place(hazard: Hazard) -> str:
    """The region path of the level that supervises a major hazard (its county or its city)."""
    depth = paths.CITY if hazard.supervising_level == Hazard.SupervisingLevel.CITY else paths.COUNTY
    return paths.ancestor(hazard.region_path, depth)


def may_supervise(actor: Any, hazard: Hazard) -> bool:
    """Whether the actor belongs to the supervising level of a major hazard (挂牌督办), which accepts,
    rejects and closes it."""
    return bool(
        actor.has_perm("hazards.supervise_hazard") and region_within_scope(actor, supervising_place(hazard))
    )


def valid_supervisors(hazard: Hazard) -> Any:
    """Who may be named supervising official: county officers or city safety office staff whose own
    scope holds the hazard's supervising place."""
    place = supervising_place(hazard)
    prefixes = [place[: i + 1] for i, ch in enumerate(place) if ch == "/"]
    holders = UserScope.objects.filter(region__region_path__in=prefixes, institution__isnull=True)
    return (
        get_user_model()
        .objects.filter(is_active=True, pk__in=holders.values("user"),
                        role_grants__role__in=[COUNTY_OFFICER, CITY_SAFETY_OFFICE])
        .distinct()
        .order_by("display_name")
    )  # fmt: skip


def _place(hazard: Hazard, depth: int) -> str:
    return paths.ancestor(hazard.region_path, depth)


def may_decide_pause(actor: Any, hazard: Hazard) -> bool:
    """Who approves a pause (`MINAN_HAZARD_PAUSE_APPROVER`): someone who issues notices — with scope
    over the hazard's whole county or city when so configured — and, for a major hazard, its
    supervising level."""
    if not actor.has_perm("hazards.assign_hazard"):
        return False
    level = settings.HAZARD_PAUSE_APPROVER
    if level != "issuer" and not region_within_scope(actor, _place(hazard, 3 if level == "county" else 2)):
        return False
    return hazard.level != Hazard.Level.MAJOR or may_supervise(actor, hazard)
