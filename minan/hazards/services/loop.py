"""Writes of the hazard closed loop: report, a finding again, the moves of `workflow.MOVES`, the 五落实 plan.

Concurrency rule: a move changes the status with a conditional UPDATE (`filter(pk, status=from)`); of
two people accepting the same hazard at once exactly one succeeds, the other gets "changed meanwhile".
Every move writes a `HazardEvent` and an audit event in the same transaction; notifications go out
after it commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core import calendar
from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.uploads import check_uploads
from minan.duty.models import DutyAssignment
from minan.hazards.models import Category, Clause, Hazard, HazardEvent, HazardFile, Source
from minan.hazards.selectors import deadline_days, may_supervise, valid_supervisors, visible_hazard
from minan.hazards.workflow import IN_RECTIFICATION, MOVES, OPEN_STATES, PLAN_FIELDS, Move
from minan.institutions.classification.services import reclassify
from minan.institutions.models import Institution

from .deadlines import end_pause

MAX_FILES = 9


def _save_files(hazard: Hazard, event: HazardEvent, typed: list[tuple[Any, str, str]], kind: str) -> None:
    for upload, content_type, extension in typed:
        item = HazardFile(hazard=hazard, event=event, kind=kind, name=str(upload.name)[:200],
                          content_type=content_type, size=upload.size)  # fmt: skip
        item.file.save(f"hazard-{hazard.pk}{extension}", upload, save=True)


@transaction.atomic
def report(
    actor: Any,
    institution: Institution,
    *,
    source: str,
    category: str,
    level: str,
    description: str,
    location: str = "",
    clause: Clause | None = None,
    responsible_person: str = "",
    source_ref: str = "",
    on_the_spot: bool = False,
    files: Sequence[Any] = (),
    request: Any = None,
    system: bool = False,
) -> Hazard:
    """Register a hazard found at an institution. A hazard matching a clause of a criteria set that
    makes hazards major is major whatever was chosen. 立行立改 needs on-site evidence
    and goes straight to acceptance. `system`: raised by MinAn itself (a fire-system fault left
    uncleared), `actor` being the monitoring account; no permission or scope applies."""
    if not system and not actor.has_perm("hazards.add_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not system and not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    if source not in Source.values:
        raise DomainError(_("Choose a listed source."), field="source")
    if category not in Category.values:
        raise DomainError(_("Choose a listed category."), field="category")
    if clause is not None and clause.criteria_set.makes_major:
        level = Hazard.Level.MAJOR
    if level not in Hazard.Level.values:
        raise DomainError(_("Choose a level."), field="level")
    if not description.strip():
        raise DomainError(_("Describe the hazard."), field="description")
    if on_the_spot and level == Hazard.Level.MAJOR:
        raise DomainError(_("A major hazard cannot be closed as fixed on the spot."), field="on_the_spot")
    typed = check_uploads(list(files), limit=MAX_FILES, allow_pdf=True)
    if on_the_spot and not typed:
        raise DomainError(_("Fixed on the spot needs photos of the fix."), field="files")
    cadre_id = (
        DutyAssignment.objects.filter(institution=institution, active=True)
        .values_list("cadre_id", flat=True)
        .first()
    )
    now = timezone.now()
    hazard = Hazard.objects.create(
        institution=institution, region_path=institution.region_path, source=source, source_ref=source_ref[:60],
        category=category, level=level, description=description.strip()[:2000], location=location.strip()[:200],
        clause=clause, found_by=actor, found_at=now, on_the_spot=on_the_spot,
        responsible_person=responsible_person.strip()[:50], cadre_id=cadre_id,
        status=Hazard.Status.SUBMITTED if on_the_spot else Hazard.Status.REPORTED,
        submitted_by=actor if on_the_spot else None,
        supervising_level=settings.HAZARD_SUPERVISING_LEVEL if level == Hazard.Level.MAJOR else "",
    )  # fmt: skip
    event = HazardEvent.objects.create(
        hazard=hazard, action="report_fixed" if on_the_spot else "report", to_status=hazard.status, actor=actor,
        comment=description.strip()[:2000],
    )  # fmt: skip
    _save_files(hazard, event, typed, HazardFile.Kind.RECTIFIED if on_the_spot else HazardFile.Kind.FOUND)
    record("hazard.report", user=actor, request=request, obj=institution,
           detail=f"#{hazard.pk} {level} {category}{' on the spot' if on_the_spot else ''}")  # fmt: skip
    facts_changed(institution, actor, request)
    return hazard


@transaction.atomic
def add_finding(
    actor: Any, hazard: Hazard, text: str, *, source_ref: str = "", request: Any = None
) -> Hazard:
    """Record that a later inspection found an open hazard again, instead of reporting a duplicate:
    an event on its timeline (with the inspection it came from) and an audit event."""
    hazard = visible_hazard(actor, hazard)
    if not actor.has_perm("hazards.add_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.status not in OPEN_STATES:
        raise DomainError(_("Only an open hazard can take a new finding."), code="not_allowed")
    HazardEvent.objects.create(hazard=hazard, action="finding", from_status=hazard.status, to_status=hazard.status,
                               actor=actor, comment=text.strip()[:2000], data={"source": source_ref[:60]})  # fmt: skip
    record("hazard.finding", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {source_ref}"[:500])  # fmt: skip
    return hazard


def facts_changed(institution: Institution, actor: Any, request: Any) -> None:
    """Open hazards are facts of the institution's risk class: reclassify it."""
    reclassify(Institution.objects.filter(pk=institution.pk), actor=actor, request=request)


def _refuse(move: Move, rule: str, message: str, field: str | None = None) -> DomainError:
    """An error naming the rule that blocked the move (the API shows `code`)."""
    return DomainError(message, code=rule, field=field)


def _check_supervising_level(actor: Any, hazard: Hazard) -> None:
    if not may_supervise(actor, hazard):
        raise _refuse(
            MOVES["accept"],
            "supervising_level",
            _("A major hazard is accepted and closed by its supervising level."),
        )


@transaction.atomic
def transition(
    actor: Any,
    hazard: Hazard,
    action: str,
    *,
    comment: str = "",
    requirement: str = "",
    days: int | None = None,
    supervisor: Any = None,
    measures_taken: str = "",
    files: Sequence[Any] = (),
    request: Any = None,
) -> Hazard:
    """Perform one move of the table on a hazard, or refuse it with the rule that blocked it."""
    move = MOVES.get(action)
    if move is None:
        raise DomainError(_("Unknown action."), code="unknown_action", field="action")
    hazard = visible_hazard(actor, hazard)
    if not actor.has_perm(move.permission):
        raise NotPermitted(_("You may not do “%(action)s”.") % {"action": move.label})
    if hazard.status not in move.sources:
        raise _refuse(
            move, "not_allowed",
            _("“%(action)s” is not possible while the hazard is “%(status)s”.")
            % {"action": move.label, "status": hazard.get_status_display()},
        )  # fmt: skip
    comment = comment.strip()
    if move.needs_comment and not comment:
        raise _refuse(move, "reason_required", _("Give a reason."), field="comment")
    changes: dict[str, Any] = {}
    typed: list[tuple[Any, str, str]] = []
    today = timezone.localdate()
    major = hazard.level == Hazard.Level.MAJOR
    if action == "assign":
        n = days if days is not None else deadline_days(hazard.category, hazard.level)
        if not requirement.strip():
            raise _refuse(
                move, "requirement_required", _("State what must be rectified."), field="requirement"
            )
        if not 1 <= n <= 365:
            raise _refuse(move, "deadline", _("Give between 1 and 365 working days."), field="days")
        changes.update(
            assigned_on=today,
            deadline=calendar.add_working_days(today, n),
            requirement=requirement.strip()[:2000],
        )
        if major:
            if supervisor is None:
                raise _refuse(
                    move,
                    "supervisor_required",
                    _("Name the supervising official of a major hazard."),
                    field="supervisor",
                )
            if not valid_supervisors(hazard).filter(pk=supervisor.pk).exists():
                raise _refuse(
                    move,
                    "supervisor_required",
                    _(
                        "The supervising official must be a county officer or city safety office member over the place."
                    ),
                    field="supervisor",
                )
            changes["supervisor"] = supervisor
    elif action == "start" and major:
        missing = [f for f in PLAN_FIELDS if not getattr(hazard, f)]
        if missing:
            labels = "、".join(str(getattr(Hazard._meta.get_field(f), "verbose_name", f)) for f in missing)
            raise _refuse(move, "five_guarantees",
                          _("A major hazard needs the five guarantees (五落实) first; missing: %(fields)s.") % {"fields": labels},
                          field="plan")  # fmt: skip
    elif action == "submit":
        if not measures_taken.strip():
            raise _refuse(move, "measures_required", _("Say what was done."), field="measures_taken")
        typed = check_uploads(list(files), limit=MAX_FILES, allow_pdf=True)
        if not typed:
            raise _refuse(
                move, "evidence_required", _("Attach evidence of the rectification."), field="files"
            )
        changes.update(measures_taken=measures_taken.strip()[:2000], submitted_by=actor)
    elif action == "accept":
        if hazard.submitted_by_id == actor.pk or (hazard.on_the_spot and hazard.found_by_id == actor.pk):
            raise _refuse(
                move, "second_person", _("Acceptance needs someone other than the one who submitted the fix.")
            )
        if major:
            _check_supervising_level(actor, hazard)
        changes.update(accepted_by=actor, accepted_at=timezone.now())
    elif action == "reject" and major:
        _check_supervising_level(actor, hazard)
    elif action == "close":
        if major:
            _check_supervising_level(actor, hazard)
        changes["closed_at"] = timezone.now()
    moved = Hazard.objects.filter(pk=hazard.pk, status=hazard.status).update(status=move.target, **changes)
    if not moved:
        raise _refuse(move, "conflict", _("The hazard was changed by someone else meanwhile; reload it."))
    if hazard.paused_since is not None and move.target not in IN_RECTIFICATION:
        # Submitted or cancelled: the work the pause waited for is over, so is the pause.
        end_pause(actor, hazard, _("Ended by “%(action)s”.") % {"action": move.label}, request)
    event = HazardEvent.objects.create(
        hazard=hazard, action=action, from_status=hazard.status, to_status=move.target, actor=actor, comment=comment,
        data={k: (v.isoformat() if isinstance(v, dt.date) else getattr(v, "pk", v)) for k, v in changes.items()
              if k in {"deadline", "assigned_on", "supervisor"}},
    )  # fmt: skip
    _save_files(hazard, event, typed, HazardFile.Kind.RECTIFIED)
    record(f"hazard.{action}", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {hazard.status}→{move.target} {comment}"[:500])  # fmt: skip
    if move.target in {Hazard.Status.CLOSED, Hazard.Status.CANCELLED}:
        facts_changed(hazard.institution, actor, request)
    hazard.refresh_from_db()
    return hazard


@transaction.atomic
def update_plan(actor: Any, hazard: Hazard, *, request: Any = None, **fields: Any) -> Hazard:
    """Fill or change the 五落实 plan of a major hazard while it is open and not yet accepted."""
    hazard = visible_hazard(actor, hazard)
    if not (actor.has_perm("hazards.assign_hazard") or actor.has_perm("hazards.rectify_hazard")):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.level != Hazard.Level.MAJOR:
        raise DomainError(_("Only a major hazard has a five-guarantee plan."), code="not_major")
    if hazard.status not in {
        Hazard.Status.REPORTED,
        Hazard.Status.ASSIGNED,
        Hazard.Status.RECTIFYING,
        Hazard.Status.REJECTED,
    }:
        raise DomainError(_("The plan can no longer be changed."), code="not_allowed")
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    if hazard.status == Hazard.Status.RECTIFYING and not fields.get("plan_deadline", hazard.plan_deadline):
        raise DomainError(_("A major hazard in rectification keeps its time limit."), field="plan_deadline")
    before = {f: getattr(hazard, f) for f in fields}
    for name, value in fields.items():
        setattr(hazard, name, value.strip() if isinstance(value, str) else value)
    hazard.save(update_fields=list(fields))
    changed = {
        f: [str(before[f] or ""), str(getattr(hazard, f) or "")]
        for f in fields
        if before[f] != getattr(hazard, f)
    }
    HazardEvent.objects.create(hazard=hazard, action="plan", from_status=hazard.status, to_status=hazard.status,
                               actor=actor, data={"changed": sorted(changed)})  # fmt: skip
    record("hazard.plan", user=actor, request=request, obj=hazard.institution, changes=changed)
    return hazard
