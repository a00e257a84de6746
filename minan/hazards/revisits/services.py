"""Writes of 回头看 (revisits): draw closed hazards to re-verify, record what was found; a recurred
problem reopens the hazard."""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import calendar
from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.hazards.models import Hazard, HazardEvent, Revisit, RevisitDraw
from minan.hazards.selectors import deadline_days
from minan.hazards.services import facts_changed


def _revisit_due(closed: dt.date) -> dt.date | None:
    try:
        return calendar.add_working_days(closed, settings.REVISIT_AFTER_WORKING_DAYS)
    except DomainError:  # next year's calendar not loaded yet: the date is set when it is
        return None


@transaction.atomic
def draw_revisits(
    actor: Any,
    date_from: dt.date,
    date_to: dt.date,
    *,
    general_share: int | None = None,
    seed: str | None = None,
    request: Any = None,
) -> RevisitDraw:
    """Draw the hazards closed in a period that will be re-verified: every major one and
    `general_share` % of the general ones (rounded up), at random with a recorded seed. Hazards
    already drawn are left out."""
    if not actor.has_perm("hazards.supervise_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if date_to < date_from or date_to > timezone.localdate():
        raise DomainError(_("Choose a period that has ended or ends today."), field="date_to")
    share = settings.REVISIT_GENERAL_SHARE if general_share is None else general_share
    if not 0 <= share <= 100:
        raise DomainError(_("The share is a percentage from 0 to 100."), field="general_share")
    closed = (
        Hazard.objects.for_user(actor)
        .filter(status=Hazard.Status.CLOSED, closed_at__date__gte=date_from, closed_at__date__lte=date_to)
        .exclude(revisits__isnull=False)
        .order_by("pk")
    )
    candidates = list(closed.values_list("pk", "level"))
    general = [pk for pk, level in candidates if level == Hazard.Level.GENERAL]
    seed = seed or secrets.token_hex(16)
    chosen = [pk for pk, level in candidates if level == Hazard.Level.MAJOR]
    chosen += random.Random(seed).sample(general, math.ceil(len(general) * share / 100))  # noqa: S311 (a draw anyone can recompute)
    home = actor.region.region_path  # the drawer's own place: the draw is seen at their level and above
    draw = RevisitDraw.objects.create(
        region_path=home, period_from=date_from, period_to=date_to, general_share=share, seed=seed,
        candidates=[[pk, level] for pk, level in candidates], drawn_by=actor,
    )  # fmt: skip
    hazards = Hazard.objects.in_bulk(chosen)
    Revisit.objects.bulk_create(
        Revisit(
            draw=draw,
            hazard=hazards[pk],
            region_path=hazards[pk].region_path,
            due_on=_revisit_due(timezone.localtime(hazards[pk].closed_at).date())
            if hazards[pk].closed_at
            else None,
        )  # fmt: skip
        for pk in sorted(chosen)
    )
    record("hazard.revisit_draw", user=actor, request=request, object_type="hazards.revisitdraw", object_id=draw.pk,
           detail=f"{date_from}..{date_to} {len(candidates)} closed, {len(chosen)} drawn, seed {seed}")  # fmt: skip
    return draw


@transaction.atomic
def record_revisit(
    actor: Any, revisit: Revisit, outcome: str, note: str = "", *, request: Any = None
) -> Revisit:
    """Record a revisit. A recurred problem reopens the hazard (same hazard, not a copy): back to
    rectification with a new deadline, counted in `reopened`, linked to the revisit."""
    if not actor.has_perm("hazards.accept_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not Revisit.objects.for_user(actor).filter(pk=revisit.pk).exists():
        raise OutOfScope(_("Revisit not found."))
    if outcome not in {Revisit.Outcome.PASSED, Revisit.Outcome.FAILED}:
        raise DomainError(_("Choose still fixed or recurred."), field="outcome")
    if outcome == Revisit.Outcome.FAILED and not note.strip():
        raise DomainError(_("Say what recurred."), field="note")
    if not Revisit.objects.filter(pk=revisit.pk, outcome=Revisit.Outcome.PENDING).update(
        outcome=outcome, checked_by=actor, checked_at=timezone.now(), note=note.strip()[:2000]
    ):
        raise DomainError(_("This revisit is already recorded."), code="conflict")
    hazard = revisit.hazard
    if outcome == Revisit.Outcome.FAILED:
        today = timezone.localdate()
        deadline = calendar.add_working_days(today, deadline_days(hazard.category, hazard.level))
        reopened = Hazard.objects.filter(pk=hazard.pk, status=Hazard.Status.CLOSED).update(
            status=Hazard.Status.RECTIFYING, reopened=hazard.reopened + 1, assigned_on=today, deadline=deadline,
            escalation_step=0, closed_at=None, accepted_at=None, accepted_by=None, submitted_by=None,
            paused_days=0,
        )  # fmt: skip
        if not reopened:
            raise DomainError(_("The hazard is no longer closed."), code="conflict")
        HazardEvent.objects.create(hazard=hazard, action="reopen", from_status=Hazard.Status.CLOSED,
                                   to_status=Hazard.Status.RECTIFYING, actor=actor, comment=note.strip()[:2000],
                                   data={"revisit": revisit.pk, "deadline": deadline.isoformat()})  # fmt: skip
        facts_changed(hazard.institution, actor, request)
    record("hazard.revisit", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {outcome}")  # fmt: skip
    revisit.refresh_from_db()
    return revisit
