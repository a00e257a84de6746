"""An inspection from start to end: start it (on the published checklist or the task's), then submit it
(score, hazards, the task closed, one transaction) or cancel the draft."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.uploads import Refused, check_file
from minan.duty import services as duty
from minan.hazards import services as hazards
from minan.hazards.models import Hazard
from minan.hazards.workflow import OPEN_STATES
from minan.institutions.models import Institution

from ...checklists.selectors import current_template
from ...models import (
    HAZARD_SOURCE,
    Answer,
    ChecklistItem,
    ChecklistTemplate,
    Inspection,
    InspectionTask,
    Kind,
)
from .access import performer_problem, release

PASS_SHARE = 60  # below this share of the points an inspection fails even without a major failure


# --- start -----------------------------------------------------------------------------------------------------


@transaction.atomic
def start(
    actor: Any,
    institution: Institution,
    *,
    kind: str,
    template: ChecklistTemplate | None = None,
    task: InspectionTask | None = None,
    team: str = "",
    request: Any = None,
) -> Inspection:
    """Begin an inspection on the published version of a checklist (or the task's plan checklist).
    A task is started once: its inspection is returned again rather than started twice."""
    if task is not None:
        task = (
            InspectionTask.objects.for_user(actor).select_for_update(of=("self",)).filter(pk=task.pk).first()
        )
        if task is None:
            raise OutOfScope(_("Task not found."))
        existing = Inspection.objects.filter(task=task).first()
        if existing is not None and existing.status != Inspection.Status.CANCELLED:
            return existing
        if task.status != InspectionTask.Status.OPEN and task.status != InspectionTask.Status.MISSED:
            raise DomainError(_("This task is no longer open."), code="not_allowed")
        if task.assignee_id is not None and task.assignee_id != actor.pk and task.kind != Kind.SELF:
            raise DomainError(_("This task is assigned to someone else."), code="not_assignee")
        institution, kind = task.institution, task.kind
        template = template or current_template(task.plan.template_code)
    if not Institution.objects.for_user(actor).filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    problem = performer_problem(actor, institution, kind)
    if problem:
        raise DomainError(problem, code="performer", field="kind")
    if template is None or template.status != ChecklistTemplate.Status.PUBLISHED:
        raise DomainError(_("Choose a published checklist."), field="template")
    if template.kinds and kind not in template.kinds:
        raise DomainError(_("This checklist is not meant for this kind of inspection."), field="template")
    if template.institution_kinds and institution.kind not in template.institution_kinds:
        raise DomainError(_("This checklist is not meant for this kind of institution."), field="template")
    inspection = Inspection.objects.create(
        institution=institution, region_path=institution.region_path, kind=kind, template=template, task=task,
        lead=actor, team=team.strip()[:300], started_at=timezone.now(),
    )  # fmt: skip
    record("inspection.start", user=actor, request=request, obj=institution,
           detail=f"#{inspection.pk} {kind} {template.code} v{template.version}")  # fmt: skip
    return inspection


def _draft(actor: Any, inspection: Inspection, *, lock: bool = False) -> Inspection:
    qs = Inspection.objects.for_user(actor).filter(pk=inspection.pk)
    found = (qs.select_for_update(of=("self",)) if lock else qs).first()
    if found is None:
        raise OutOfScope(_("Inspection not found."))
    if found.lead_id != actor.pk:
        raise NotPermitted(_("Only the inspector who leads this inspection can change it."))
    if found.status != Inspection.Status.DRAFT:
        raise DomainError(_("This inspection is already submitted."), code="not_allowed")
    return found


def _signature(data: str, name: str) -> ContentFile[bytes] | None:
    """A signature drawn on the screen arrives as a PNG data URL; anything else is refused."""
    if not data:
        return None
    prefix = "data:image/png;base64,"
    if not data.startswith(prefix):
        raise DomainError(_("The signature is not a PNG image."), field=name)
    try:
        raw = base64.b64decode(data[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise DomainError(_("The signature is not a PNG image."), field=name) from None
    if len(raw) > 512 * 1024:
        raise DomainError(_("The signature image is too large."), field=name)
    try:
        image, kind, _extension = check_file(ContentFile(raw, name=f"{name}.png"))
    except Refused:
        kind = ""
    if kind != "image/png":
        raise DomainError(_("The signature is not a PNG image."), field=name)
    return image  # re-encoded, as every stored image


# --- submit ----------------------------------------------------------------------------------------------------


def missing_answers(inspection: Inspection) -> list[dict[str, str]]:
    """What still blocks submission, item by item: unanswered, or a failure without its required
    note or photo, or a photo item without a photo."""
    items = list(ChecklistItem.objects.filter(template=inspection.template).select_related("section"))
    answers = {a.item_id: a for a in Answer.objects.filter(inspection=inspection).prefetch_related("photos")}
    problems = []
    for item in items:
        given = answers.get(item.pk)
        reason = None
        if given is None:
            reason = _("not answered")
        elif given.outcome != Answer.Outcome.NA:
            photos = len(given.photos.all())
            if item.answer_type == ChecklistItem.AnswerType.PHOTO and not photos:
                reason = _("a photo is required")
            elif given.outcome == Answer.Outcome.FAIL and item.note_on_fail and not given.note.strip():
                reason = _("a failure needs a note")
            elif given.outcome == Answer.Outcome.FAIL and item.photo_on_fail and not photos:
                reason = _("a failure needs a photo")
        if reason is not None:
            problems.append({"item": item.code, "question": item.question[:80], "problem": str(reason)})
    return problems


def score(inspection: Inspection) -> tuple[int, int, str]:
    """(points, of points, result): points of the passed items out of the applicable ones; any failed
    item that is a major hazard fails the inspection, as does less than PASS_SHARE % of the points;
    other failures give "pass with findings"."""
    points = possible = 0
    failed = major = False
    for given in Answer.objects.filter(inspection=inspection).select_related(
        "item", "item__clause__criteria_set"
    ):
        if given.outcome == Answer.Outcome.NA:
            continue
        possible += given.item.points
        if given.outcome == Answer.Outcome.PASS:
            points += given.item.points
        else:
            failed = True
            major = major or is_major(given.item)
    if major or (possible and points * 100 < possible * PASS_SHARE):
        result = Inspection.Result.FAIL
    elif failed:
        result = Inspection.Result.FINDINGS
    else:
        result = Inspection.Result.PASS
    return points, possible, result


def is_major(item: ChecklistItem) -> bool:
    """A failed item is a major hazard when the item says so or its clause makes hazards major."""
    return item.major_on_fail or bool(item.clause_id and item.clause and item.clause.criteria_set.makes_major)


@transaction.atomic
def submit(
    actor: Any,
    inspection: Inspection,
    *,
    merges: Mapping[int, int] | None = None,
    representative: str = "",
    inspector_signature: str = "",
    representative_signature: str = "",
    summary: str = "",
    request: Any = None,
) -> Inspection:
    """Finish an inspection. `merges` maps an item id to an open hazard of the same institution that
    the failure belongs to instead of a new hazard. Refused with `missing_answers` (and the list in
    `details`) when an answer is missing; nothing is written then."""
    inspection = _draft(actor, inspection, lock=True)
    problems = missing_answers(inspection)
    if problems:
        raise DomainError(
            _("%(n)d items still need an answer: %(items)s.")
            % {"n": len(problems), "items": "、".join(p["item"] for p in problems[:10])},
            code="missing_answers",
            details=problems,
        )
    signature = _signature(inspector_signature, "inspector_signature")
    their_signature = _signature(representative_signature, "representative_signature")
    merges = dict(merges or {})
    failed = list(
        Answer.objects.filter(inspection=inspection, outcome=Answer.Outcome.FAIL)
        .select_related("item", "item__clause__criteria_set")
        .prefetch_related("photos")
        .order_by("item__section__order", "item__order", "item_id")
    )
    unknown = set(merges) - {a.item_id for a in failed}
    if unknown:
        raise DomainError(_("Only a failed item can be merged into a hazard."), field="merges")
    targets = (
        Hazard.objects.for_user(actor)
        .filter(pk__in=set(merges.values()), institution=inspection.institution, status__in=OPEN_STATES)
        .in_bulk()
    )
    if set(merges.values()) - set(targets):
        raise DomainError(_("Merge only into an open hazard of this institution."), field="merges")
    points, possible, result = score(inspection)
    now = timezone.now()
    for given in failed:
        if given.item_id in merges:
            hazard = hazards.add_finding(
                actor, targets[merges[given.item_id]], _finding_text(given), source_ref=_ref(inspection),
                request=request,
            )  # fmt: skip
            Answer.objects.filter(pk=given.pk).update(hazard=hazard, merged=True)
            continue
        evidence = [File(photo.file.open("rb"), name=photo.name) for photo in given.photos.all()]
        hazard = hazards.report(
            actor, inspection.institution, source=HAZARD_SOURCE[Kind(inspection.kind)],
            category=given.item.hazard_category,
            level="major" if is_major(given.item) else "general",
            description=_finding_text(given), clause=given.item.clause, source_ref=_ref(inspection),
            files=evidence[: hazards.MAX_FILES], request=request,
        )  # fmt: skip
        Answer.objects.filter(pk=given.pk).update(hazard=hazard)
    moved = Inspection.objects.filter(pk=inspection.pk, status=Inspection.Status.DRAFT).update(
        status=Inspection.Status.SUBMITTED, score=points, max_score=possible, result=result,
        finished_at=inspection.finished_at or now, representative=representative.strip()[:50],
        summary=summary.strip()[:4000],
    )  # fmt: skip
    if not moved:
        raise DomainError(_("This inspection is already submitted."), code="conflict")
    inspection.refresh_from_db()
    if signature is not None:
        inspection.inspector_signature.save(
            f"inspection-{inspection.pk}-inspector.png", signature, save=False
        )
    if their_signature is not None:
        inspection.representative_signature.save(
            f"inspection-{inspection.pk}-representative.png", their_signature, save=False
        )
    if signature is not None or their_signature is not None:
        inspection.save(update_fields=["inspector_signature", "representative_signature"])
    if inspection.kind == Kind.DUTY:
        _record_duty_visit(actor, inspection, failed, request)
    if inspection.task_id:
        InspectionTask.objects.filter(pk=inspection.task_id).update(
            status=InspectionTask.Status.DONE, done_at=now
        )
        release(InspectionTask.objects.get(pk=inspection.task_id))
    record("inspection.submit", user=actor, request=request, obj=inspection.institution,
           detail=f"#{inspection.pk} {result} {points}/{possible}, {len(failed)} failed")  # fmt: skip
    return inspection


def _record_duty_visit(actor: Any, inspection: Inspection, failed: list[Answer], request: Any) -> None:
    """A duty check is the cadre's 包保督查 visit: it counts for the visit rule (`last_visit_on`) like a
    visit recorded on the 包保 pages, with what was checked and found."""
    findings = "\n".join(f"{given.item.code} {_finding_text(given)}" for given in failed)
    duty.record_visit(
        actor, inspection.institution, visited_on=timezone.localtime(inspection.started_at).date(),
        checked=_("Checklist “%(title)s” v%(version)d (inspection #%(id)d)")
        % {"title": inspection.template.title, "version": inspection.template.version, "id": inspection.pk},
        findings=findings, request=request,
    )  # fmt: skip


def _ref(inspection: Inspection) -> str:
    return f"inspections.inspection:{inspection.pk}"


def _finding_text(given: Answer) -> str:
    value = given.text or (f"{given.number.normalize()}{given.item.unit}" if given.number is not None else "")
    parts = [given.item.question, value, given.note.strip()]
    return "；".join(p for p in parts if p)[:2000]


@transaction.atomic
def cancel(actor: Any, inspection: Inspection, reason: str, *, request: Any = None) -> Inspection:
    """Abandon a draft (started by mistake, or the visit did not happen), with a reason. Its task
    stays open for another attempt."""
    inspection = _draft(actor, inspection, lock=True)
    if not reason.strip():
        raise DomainError(_("Give a reason."), field="reason")
    # The task is let go so that it can be started again.
    Inspection.objects.filter(pk=inspection.pk, status=Inspection.Status.DRAFT).update(
        status=Inspection.Status.CANCELLED, summary=reason.strip()[:4000], task=None
    )
    record("inspection.cancel", user=actor, request=request, obj=inspection.institution,
           detail=f"#{inspection.pk} {reason.strip()}"[:500])  # fmt: skip
    inspection.refresh_from_db()
    return inspection
