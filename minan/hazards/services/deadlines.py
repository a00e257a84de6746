"""Writes that move a hazard's deadline while it is being rectified: extensions (more working days, asked
and decided) and pauses of the deadline clock (asked, decided, ended).

`end_pause` is also called by `loop.transition` when a move ends the work a pause waited for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import calendar
from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted
from minan.hazards.models import Extension, Hazard, HazardEvent, Pause
from minan.hazards.selectors import may_decide_pause, may_supervise, visible_hazard
from minan.hazards.workflow import IN_RECTIFICATION

from .escalation import WorkingDayIndex, escalation_step

EXTENDABLE = IN_RECTIFICATION


@transaction.atomic
def request_extension(
    actor: Any, hazard: Hazard, days: int, reason: str, *, request: Any = None
) -> Extension:
    """The institution asks for more working days, with a reason; one open request at a time."""
    hazard = visible_hazard(actor, hazard)
    if not actor.has_perm("hazards.rectify_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.status not in EXTENDABLE or hazard.deadline is None:
        raise DomainError(
            _("Only a hazard being rectified can have its deadline extended."), code="not_allowed"
        )
    if not 1 <= days <= 90:
        raise DomainError(_("Ask for 1 to 90 working days."), field="days")
    if not reason.strip():
        raise DomainError(_("Give a reason."), field="reason")
    if Extension.objects.filter(hazard=hazard, decision=Extension.Decision.PENDING).exists():
        raise DomainError(_("An extension is already waiting for a decision."), code="duplicate")
    extension = Extension.objects.create(
        hazard=hazard, days=days, reason=reason.strip()[:1000], requested_by=actor
    )
    HazardEvent.objects.create(hazard=hazard, action="extension_request", from_status=hazard.status,
                               to_status=hazard.status, actor=actor, comment=reason.strip()[:2000],
                               data={"days": days})  # fmt: skip
    record("hazard.extension_request", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} +{days}")  # fmt: skip
    return extension


@transaction.atomic
def decide_extension(
    actor: Any, extension: Extension, approve: bool, comment: str = "", *, request: Any = None
) -> Extension:
    """Approve (the deadline moves by the days asked, counted from the current deadline) or refuse.
    The requester cannot decide their own request; a major hazard's is decided by its supervising level."""
    hazard = visible_hazard(actor, extension.hazard)
    if not actor.has_perm("hazards.assign_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if extension.requested_by_id == actor.pk:
        raise DomainError(_("Someone other than the requester decides."), code="second_person")
    if hazard.level == Hazard.Level.MAJOR and not may_supervise(actor, hazard):
        raise DomainError(
            _("A major hazard's extension is decided by its supervising level."), code="supervising_level"
        )
    if not approve and not comment.strip():
        raise DomainError(_("Give a reason."), field="comment")
    now = timezone.now()
    fields: dict[str, Any] = {"decided_by": actor, "decided_at": now, "old_deadline": hazard.deadline}
    if approve:
        if hazard.status not in EXTENDABLE or hazard.deadline is None:
            raise DomainError(
                _("Only a hazard being rectified can have its deadline extended."), code="not_allowed"
            )
        fields["new_deadline"] = calendar.add_working_days(hazard.deadline, extension.days)
    decided = Extension.objects.filter(pk=extension.pk, decision=Extension.Decision.PENDING).update(
        decision=Extension.Decision.APPROVED if approve else Extension.Decision.REFUSED, **fields
    )
    if not decided:
        raise DomainError(_("This request is already decided."), code="conflict")
    if approve:
        # Reminders start again from the new deadline.
        Hazard.objects.filter(pk=hazard.pk).update(deadline=fields["new_deadline"], escalation_step=0)
    HazardEvent.objects.create(
        hazard=hazard, action="extension_approved" if approve else "extension_refused", from_status=hazard.status,
        to_status=hazard.status, actor=actor, comment=comment.strip()[:2000],
        data={"old": hazard.deadline.isoformat() if hazard.deadline else None,
              "new": fields["new_deadline"].isoformat() if approve else None},
    )  # fmt: skip
    record("hazard.extension_decision", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {'approved' if approve else 'refused'}")  # fmt: skip
    extension.refresh_from_db()
    return extension


# --- pausing the deadline clock ---------------------------------------------------------


def paused_working_days(started_on: dt.date, ended_on: dt.date) -> int:
    """Working days from the first day of a pause up to the day before it ended: [started_on, ended_on)."""
    one = dt.timedelta(days=1)
    return max(calendar.working_days_between(started_on - one, ended_on - one), 0)


@transaction.atomic
def request_pause(actor: Any, hazard: Hazard, reason: str, *, request: Any = None) -> Pause:
    """Ask to stop the deadline clock, with a reason (waiting for funds, for another department…).
    The institution or whoever issues notices may ask; one open request or running pause at a time."""
    hazard = visible_hazard(actor, hazard)
    if not (actor.has_perm("hazards.rectify_hazard") or actor.has_perm("hazards.assign_hazard")):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.status not in IN_RECTIFICATION or hazard.deadline is None:
        raise DomainError(
            _("Only a hazard being rectified can have its deadline paused."), code="not_allowed"
        )
    if not reason.strip():
        raise DomainError(_("Give a reason."), field="reason")
    if (
        hazard.paused_since is not None
        or Pause.objects.filter(hazard=hazard, decision=Pause.Decision.PENDING).exists()
    ):
        raise DomainError(
            _("The deadline is already paused or a pause is waiting for a decision."), code="duplicate"
        )
    pause = Pause.objects.create(hazard=hazard, reason=reason.strip()[:1000], requested_by=actor)
    HazardEvent.objects.create(hazard=hazard, action="pause_request", from_status=hazard.status,
                               to_status=hazard.status, actor=actor, comment=reason.strip()[:2000])  # fmt: skip
    record(
        "hazard.pause_request", user=actor, request=request, obj=hazard.institution, detail=f"#{hazard.pk}"
    )
    return pause


@transaction.atomic
def decide_pause(actor: Any, pause: Pause, approve: bool, comment: str = "", *, request: Any = None) -> Pause:
    """Approve (the clock stops from today) or refuse (with a reason). Never by the requester."""
    hazard = visible_hazard(actor, pause.hazard)
    if not may_decide_pause(actor, hazard):
        raise NotPermitted(_("Pauses of this hazard are decided by another level."))
    if pause.requested_by_id == actor.pk:
        raise DomainError(_("Someone other than the requester decides."), code="second_person")
    if not approve and not comment.strip():
        raise DomainError(_("Give a reason."), field="comment")
    today = timezone.localdate()
    if approve and (hazard.status not in IN_RECTIFICATION or hazard.paused_since is not None):
        raise DomainError(
            _("Only a hazard being rectified can have its deadline paused."), code="not_allowed"
        )
    decided = Pause.objects.filter(pk=pause.pk, decision=Pause.Decision.PENDING).update(
        decision=Pause.Decision.APPROVED if approve else Pause.Decision.REFUSED, decided_by=actor,
        decided_at=timezone.now(), started_on=today if approve else None,
    )  # fmt: skip
    if not decided:
        raise DomainError(_("This request is already decided."), code="conflict")
    if approve and not Hazard.objects.filter(
        pk=hazard.pk, status__in=IN_RECTIFICATION, paused_since__isnull=True
    ).update(paused_since=today):
        raise DomainError(_("The hazard was changed by someone else meanwhile; reload it."), code="conflict")
    HazardEvent.objects.create(
        hazard=hazard, action="pause_approved" if approve else "pause_refused", from_status=hazard.status,
        to_status=hazard.status, actor=actor, comment=comment.strip()[:2000],
        data={"from": today.isoformat()} if approve else {},
    )  # fmt: skip
    record("hazard.pause_decision", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {'approved' if approve else 'refused'}")  # fmt: skip
    pause.refresh_from_db()
    return pause


@transaction.atomic
def resume(actor: Any, hazard: Hazard, comment: str = "", *, request: Any = None) -> Hazard:
    """End a running pause: the deadline moves by the working days it lasted and the clock runs again.
    The institution or whoever issues notices may end it."""
    hazard = visible_hazard(actor, hazard)
    if not (actor.has_perm("hazards.rectify_hazard") or actor.has_perm("hazards.assign_hazard")):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.paused_since is None:
        raise DomainError(_("The deadline is not paused."), code="not_allowed")
    end_pause(actor, hazard, comment.strip(), request)
    hazard.refresh_from_db()
    return hazard


def end_pause(actor: Any, hazard: Hazard, comment: str, request: Any) -> None:
    """Close the running pause of a hazard read before this transaction's move (`hazard.paused_since`
    set): move the deadline by the working days paused and restart reminders at the step reached."""
    today = timezone.localdate()
    pause = (
        Pause.objects.select_for_update()
        .filter(hazard=hazard, decision=Pause.Decision.APPROVED, ended_on__isnull=True)
        .first()
    )
    row = Hazard.objects.select_for_update().filter(pk=hazard.pk, paused_since__isnull=False).first()
    if pause is None or row is None or row.paused_since is None:
        raise DomainError(_("The hazard was changed by someone else meanwhile; reload it."), code="conflict")
    days = paused_working_days(row.paused_since, today)
    deadline = calendar.add_working_days(row.deadline, days) if row.deadline and days else row.deadline
    paused = row.paused_days + days
    step = row.escalation_step
    if deadline and row.assigned_on and row.status in IN_RECTIFICATION:
        index = WorkingDayIndex(row.assigned_on, max(today, deadline))
        step = min(step, escalation_step(index, row.assigned_on, deadline, today, paused))
    Hazard.objects.filter(pk=row.pk).update(
        paused_since=None, paused_days=paused, deadline=deadline, escalation_step=step
    )
    Pause.objects.filter(pk=pause.pk).update(ended_on=today, ended_by=actor, working_days=days)
    HazardEvent.objects.create(
        hazard=hazard, action="pause_end", from_status=row.status, to_status=row.status, actor=actor,
        comment=comment[:2000],
        data={"days": days, "old": row.deadline.isoformat() if row.deadline else None,
              "new": deadline.isoformat() if deadline else None},
    )  # fmt: skip
    record("hazard.pause_end", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {days} working days")  # fmt: skip
