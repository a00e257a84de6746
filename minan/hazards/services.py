"""Writes of the hazard closed loop: report, the moves of `workflow.MOVES`, the 五落实 plan.

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

from minan.accounts.models import User
from minan.accounts.selectors import people_over, staff_of
from minan.audit.services import record
from minan.core import calendar
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.uploads import check_uploads
from minan.institutions.models import Institution
from minan.regions import paths

from .models import (
    Category,
    CategorySetting,
    Clause,
    Extension,
    Hazard,
    HazardEvent,
    HazardFile,
    Pause,
    Revisit,
    RevisitDraw,
    Source,
)
from .workflow import IN_RECTIFICATION, MOVES, Move

MAX_FILES = 9
PLAN_FIELDS = ("plan_responsible", "plan_measures", "plan_funds", "plan_deadline", "plan_contingency")


def _visible(actor: Any, hazard: Hazard) -> Hazard:
    found = Hazard.objects.for_user(actor).filter(pk=hazard.pk).first() if actor is not None else hazard
    if found is None:
        raise OutOfScope(_("Hazard not found."))
    return found


def _save_files(hazard: Hazard, event: HazardEvent, typed: list[tuple[Any, str, str]], kind: str) -> None:
    for upload, content_type, extension in typed:
        item = HazardFile(hazard=hazard, event=event, kind=kind, name=str(upload.name)[:200],
                          content_type=content_type, size=upload.size)  # fmt: skip
        item.file.save(f"hazard-{hazard.pk}{extension}", upload, save=True)


def deadline_days(category: str, level: str) -> int:
    setting = CategorySetting.objects.filter(category=category).first()
    if setting is None:
        return 30 if level == Hazard.Level.MAJOR else 5
    return setting.major_days if level == Hazard.Level.MAJOR else setting.general_days


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
    from minan.duty.models import DutyAssignment

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
    _facts_changed(institution, actor, request)
    return hazard


@transaction.atomic
def add_finding(
    actor: Any, hazard: Hazard, text: str, *, source_ref: str = "", request: Any = None
) -> Hazard:
    """Record that a later inspection found an open hazard again, instead of reporting a duplicate:
    an event on its timeline (with the inspection it came from) and an audit event."""
    from .workflow import OPEN_STATES

    hazard = _visible(actor, hazard)
    if not actor.has_perm("hazards.add_hazard"):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.status not in OPEN_STATES:
        raise DomainError(_("Only an open hazard can take a new finding."), code="not_allowed")
    HazardEvent.objects.create(hazard=hazard, action="finding", from_status=hazard.status, to_status=hazard.status,
                               actor=actor, comment=text.strip()[:2000], data={"source": source_ref[:60]})  # fmt: skip
    record("hazard.finding", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {source_ref}"[:500])  # fmt: skip
    return hazard


def _facts_changed(institution: Institution, actor: Any, request: Any) -> None:
    """Open hazards are facts of the institution's risk class: reclassify it."""
    from minan.institutions import classification

    classification.reclassify(Institution.objects.filter(pk=institution.pk), actor=actor, request=request)


def _refuse(move: Move, rule: str, message: str, field: str | None = None) -> DomainError:
    """An error naming the rule that blocked the move (the API shows `code`)."""
    return DomainError(message, code=rule, field=field)


def supervising_place(hazard: Hazard) -> str:
    """The region path of the level that supervises a major hazard (its county or its city)."""
    depth = paths.CITY if hazard.supervising_level == Hazard.SupervisingLevel.CITY else paths.COUNTY
    return paths.ancestor(hazard.region_path, depth)


def may_supervise(actor: Any, hazard: Hazard) -> bool:
    """Whether the actor belongs to the supervising level of a major hazard (挂牌督办), which accepts,
    rejects and closes it."""
    from minan.core.scoping import region_within_scope

    return bool(
        actor.has_perm("hazards.supervise_hazard") and region_within_scope(actor, supervising_place(hazard))
    )


def valid_supervisors(hazard: Hazard) -> Any:
    """Who may be named supervising official: county officers or city safety office staff whose own
    scope holds the hazard's supervising place."""
    from django.contrib.auth import get_user_model

    from minan.accounts.models import UserScope
    from minan.accounts.roles import CITY_SAFETY_OFFICE, COUNTY_OFFICER

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
    hazard = _visible(actor, hazard)
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
        _end_pause(actor, hazard, _("Ended by “%(action)s”.") % {"action": move.label}, request)
    event = HazardEvent.objects.create(
        hazard=hazard, action=action, from_status=hazard.status, to_status=move.target, actor=actor, comment=comment,
        data={k: (v.isoformat() if isinstance(v, dt.date) else getattr(v, "pk", v)) for k, v in changes.items()
              if k in {"deadline", "assigned_on", "supervisor"}},
    )  # fmt: skip
    _save_files(hazard, event, typed, HazardFile.Kind.RECTIFIED)
    record(f"hazard.{action}", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {hazard.status}→{move.target} {comment}"[:500])  # fmt: skip
    if move.target in {Hazard.Status.CLOSED, Hazard.Status.CANCELLED}:
        _facts_changed(hazard.institution, actor, request)
    hazard.refresh_from_db()
    return hazard


@transaction.atomic
def update_plan(actor: Any, hazard: Hazard, *, request: Any = None, **fields: Any) -> Hazard:
    """Fill or change the 五落实 plan of a major hazard while it is open and not yet accepted."""
    hazard = _visible(actor, hazard)
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


# --- deadline reminders and escalation -----------------------------------------------------

# step: (event, who is told). Steps 4 and 5 come MINAN_HAZARD_ESCALATE_AFTER working days after the due day.
ESCALATION_STEPS = {
    1: ("hazards.reminder", ("owner",)),  # 50 % of the working days elapsed
    2: ("hazards.reminder", ("owner", "cadre")),  # 75 %
    3: ("hazards.overdue", ("owner", "cadre")),  # the due day: flagged overdue
    4: ("hazards.overdue", ("owner", "cadre", "county")),  # due + 3 working days
    5: ("hazards.overdue", ("owner", "cadre", "county", "city")),  # due + 7 working days
}


class _WorkingDayIndex:
    """Working-day ordinals over a date range, so elapsed working days are one subtraction."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        self.first = first
        self.ordinal: list[int] = []
        count = 0
        day = first
        days = calendar.WorkingDays()
        while day <= last:
            if days.is_workday(day):
                count += 1
            self.ordinal.append(count)
            day += dt.timedelta(days=1)

    def __getitem__(self, day: dt.date) -> int:
        return self.ordinal[(day - self.first).days]


def escalation_step(
    index: _WorkingDayIndex, assigned_on: dt.date, deadline: dt.date, today: dt.date, paused: int = 0
) -> int:
    """The step a hazard has reached today (0 = none yet). `paused`: working days of ended pauses,
    which count neither as elapsed nor as given (the deadline already moved by them)."""
    first, second = settings.HAZARD_ESCALATE_AFTER
    if today > deadline:
        late = index[today] - index[deadline]
        return 5 if late >= second else 4 if late >= first else 3
    if today == deadline:
        return 3
    total = max(index[deadline] - index[assigned_on] - paused, 1)
    elapsed = index[today] - index[assigned_on] - paused
    return 2 if elapsed * 4 >= total * 3 else 1 if elapsed * 2 >= total else 0


def _people(hazards: list[Hazard], step: int) -> dict[int, list[Any]]:
    """Who is told at a step, per hazard: read for a whole batch in a few queries."""
    who = ESCALATION_STEPS[step][1]
    owners = staff_of({h.institution_id for h in hazards}) if "owner" in who else {}
    cadre_ids = {h.cadre_id for h in hazards if h.cadre_id} if "cadre" in who else set()
    cadres = User.objects.filter(is_active=True).in_bulk(cadre_ids)
    places: dict[str, list[Any]] = {}
    for level, role, depth in (("county", "county_officer", 3), ("city", "city_safety_office", 2)):
        if level in who:
            places.update(people_over({paths.ancestor(h.region_path, depth) for h in hazards}, role))
    found: dict[int, list[Any]] = {}
    for h in hazards:
        people = list(owners.get(h.institution_id, []))
        if h.cadre_id in cadres:
            people.append(cadres[h.cadre_id])
        for level, depth in (("county", 3), ("city", 2)):
            if level in who:
                people += places.get(paths.ancestor(h.region_path, depth), [])
        found[h.pk] = people
    return found


SWEEP_CHUNK = 200


def escalate_due(today: dt.date | None = None) -> dict[int, int]:
    """Send each open hazard's deadline reminders and escalations that are due today, once each.

    Idempotent and safe with several workers: due hazards are locked in chunks (`SELECT … FOR UPDATE
    SKIP LOCKED`), their step is read again under the lock, and only steps still to send are moved
    forward and sent in that chunk's transaction. If the sweep was not run for a while, only the step
    reached is sent. Overdue hazards stay open (never closed by expiry). Returns {step: hazards told}."""
    from minan.notify.services import Message, notify_many

    today = today or timezone.localdate()
    rows = list(
        Hazard.objects.filter(
            status__in=[Hazard.Status.ASSIGNED, Hazard.Status.RECTIFYING, Hazard.Status.REJECTED,
                        Hazard.Status.SUBMITTED],
            deadline__isnull=False, assigned_on__isnull=False, escalation_step__lt=max(ESCALATION_STEPS),
            paused_since__isnull=True,
        ).values_list("pk", "assigned_on", "deadline", "escalation_step", "paused_days")
    )  # fmt: skip
    if not rows:
        return {}
    index = _WorkingDayIndex(min(r[1] for r in rows), max(today, max(r[2] for r in rows)))
    target = {pk: escalation_step(index, a, d, today, p) for pk, a, d, _step, p in rows}
    due = [pk for pk, _a, _d, step, _p in rows if target[pk] > step]
    sent: dict[int, int] = {}
    for start in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            locked = list(
                Hazard.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=due[start : start + SWEEP_CHUNK])
                .select_related("institution")
            )
            # Another worker may have sent it, or the clock was paused since the first read.
            fresh = [h for h in locked if target[h.pk] > h.escalation_step and h.paused_since is None]
            by_step: dict[int, list[Hazard]] = {}
            for hazard in fresh:
                by_step.setdefault(target[hazard.pk], []).append(hazard)
            messages: list[Message] = []
            for step, hazards in by_step.items():
                Hazard.objects.filter(pk__in=[h.pk for h in hazards]).update(escalation_step=step)
                people = _people(hazards, step)
                event = ESCALATION_STEPS[step][0]
                for hazard in hazards:
                    major = hazard.level == Hazard.Level.MAJOR
                    messages.append(Message(
                        people[hazard.pk], event,
                        {"hazard": f"#{hazard.pk}", "institution": hazard.institution.name,
                         "description": hazard.description[:100],
                         "deadline": hazard.deadline.isoformat() if hazard.deadline else "", "step": step,
                         "major": major},
                        "urgent" if step >= 3 and major else None, link=f"/hazards/{hazard.pk}/",
                        place=hazard.region_path,
                    ))  # fmt: skip
                sent[step] = sent.get(step, 0) + len(hazards)
            HazardEvent.objects.bulk_create(
                HazardEvent(
                    hazard=h,
                    action=f"escalation{target[h.pk]}",
                    from_status=h.status,
                    to_status=h.status,
                    data={"step": target[h.pk]},
                )  # fmt: skip
                for h in fresh
            )
            notify_many(messages)
    return sent


# --- 回头看: revisits ------------------------------------------------------------------------------------------


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
    import math
    import random
    import secrets

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
        _facts_changed(hazard.institution, actor, request)
    record("hazard.revisit", user=actor, request=request, obj=hazard.institution,
           detail=f"#{hazard.pk} {outcome}")  # fmt: skip
    revisit.refresh_from_db()
    return revisit


def revisit_rates(user: Any, date_from: dt.date, date_to: dt.date) -> dict[str, Any]:
    """Outcomes of the revisits drawn in a period, inside the user's scope."""
    from django.db.models import Count

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


# --- deadline extensions ---------------------------------------------------------------------------------------

EXTENDABLE = IN_RECTIFICATION


@transaction.atomic
def request_extension(
    actor: Any, hazard: Hazard, days: int, reason: str, *, request: Any = None
) -> Extension:
    """The institution asks for more working days, with a reason; one open request at a time."""
    hazard = _visible(actor, hazard)
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
    hazard = _visible(actor, extension.hazard)
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


def _place(hazard: Hazard, depth: int) -> str:
    return paths.ancestor(hazard.region_path, depth)


def may_decide_pause(actor: Any, hazard: Hazard) -> bool:
    """Who approves a pause (`MINAN_HAZARD_PAUSE_APPROVER`): someone who issues notices — with scope
    over the hazard's whole county or city when so configured — and, for a major hazard, its
    supervising level."""
    from minan.core.scoping import region_within_scope

    if not actor.has_perm("hazards.assign_hazard"):
        return False
    level = settings.HAZARD_PAUSE_APPROVER
    if level != "issuer" and not region_within_scope(actor, _place(hazard, 3 if level == "county" else 2)):
        return False
    return hazard.level != Hazard.Level.MAJOR or may_supervise(actor, hazard)


def paused_working_days(started_on: dt.date, ended_on: dt.date) -> int:
    """Working days from the first day of a pause up to the day before it ended: [started_on, ended_on)."""
    one = dt.timedelta(days=1)
    return max(calendar.working_days_between(started_on - one, ended_on - one), 0)


@transaction.atomic
def request_pause(actor: Any, hazard: Hazard, reason: str, *, request: Any = None) -> Pause:
    """Ask to stop the deadline clock, with a reason (waiting for funds, for another department…).
    The institution or whoever issues notices may ask; one open request or running pause at a time."""
    hazard = _visible(actor, hazard)
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
    hazard = _visible(actor, pause.hazard)
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
    hazard = _visible(actor, hazard)
    if not (actor.has_perm("hazards.rectify_hazard") or actor.has_perm("hazards.assign_hazard")):
        raise NotPermitted(_("You do not have permission to do this."))
    if hazard.paused_since is None:
        raise DomainError(_("The deadline is not paused."), code="not_allowed")
    _end_pause(actor, hazard, comment.strip(), request)
    hazard.refresh_from_db()
    return hazard


def _end_pause(actor: Any, hazard: Hazard, comment: str, request: Any) -> None:
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
        index = _WorkingDayIndex(row.assigned_on, max(today, deadline))
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
