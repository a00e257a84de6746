"""Inspections carried out in the Jining demo, through the services only (start, answer, add_photos,
submit): self-inspections by the institutions' own staff on the daily and monthly fire checklists, duty
checks by a responsible cadre, sector inspections by the demo inspector on the GB 38600 checklist. Most
pass; some have one or two failures (with a note, and a photo where the item asks for one), which
become hazards. An open task of the plans demo is used when one fits.

Idempotent: nothing happens once any inspection has been submitted. A part whose checklist is not
published is skipped, and so is a single inspection a rule refuses (nothing of it is left behind).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from PIL import Image

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.institutions.models import Institution
from minan.regions.paths import county_of

from .checklists.selectors import current_template
from .execution import services
from .models import ChecklistItem, ChecklistTemplate, Inspection, InspectionTask, Kind

NOTES = [
    "现场检查发现该项不符合要求，已拍照留存，要求立即整改",
    "值班人员未能说明情况，已责令限期整改",
    "部分点位不符合要求，已当场提醒并登记",
]
SECTOR_INSTITUTIONS = 4  # institutions of different counties visited by the demo inspector


@dataclass
class Run:
    actor: User
    institution: Institution
    kind: str
    template: ChecklistTemplate
    failures: int


def _photo(n: int) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40 + 20 * (n % 8), 40)).save(buffer, "JPEG")
    return SimpleUploadedFile(f"检查照片{n}.jpg", buffer.getvalue(), content_type="image/jpeg")


def _checklist(code: str, kind: str) -> ChecklistTemplate | None:
    """The published version of a checklist if it is meant for this kind of inspection."""
    template = current_template(code)
    return template if template is not None and (not template.kinds or kind in template.kinds) else None


def _fits(template: ChecklistTemplate, institution: Institution) -> bool:
    return not template.institution_kinds or institution.kind in template.institution_kinds


def _task(run: Run) -> InspectionTask | None:
    """An open (or missed) task of the plans demo for this inspection, if there is one."""
    tasks = InspectionTask.objects.for_user(run.actor).filter(
        institution=run.institution, kind=run.kind, plan__template_code=run.template.code,
        status__in=[InspectionTask.Status.OPEN, InspectionTask.Status.MISSED], inspection__isnull=True,
    )  # fmt: skip
    if run.kind != Kind.SELF:
        tasks = tasks.filter(Q(assignee__isnull=True) | Q(assignee=run.actor))
    return tasks.order_by("due_on", "id").first()


def _passing(item: ChecklistItem) -> dict[str, Any]:
    """Answer values that pass the item."""
    kind = item.answer_type
    if kind == ChecklistItem.AnswerType.NUMBER:
        value = item.min_value if item.min_value is not None else item.max_value
        return {"number": value if value is not None else 0}
    if kind == ChecklistItem.AnswerType.CHOICE:
        good = [c for c in item.choices if c not in item.failing_choices]
        return {"text": good[0] if good else (item.choices or [""])[0]}
    if kind == ChecklistItem.AnswerType.TEXT:
        return {"text": "正常"}
    return {"outcome": "pass"}


def _carry_out(run: Run, number: int) -> Inspection:
    items = list(
        ChecklistItem.objects.filter(template=run.template).order_by("section__order", "order", "id")
    )
    candidates = [i for i in items if i.answer_type == ChecklistItem.AnswerType.PASS_FAIL]
    failing = set()
    for k in range(min(run.failures, len(candidates))):
        failing.add(candidates[(number * 3 + k * 5) % len(candidates)].pk)
    inspection = services.start(
        run.actor, run.institution, kind=run.kind, template=run.template, task=_task(run)
    )
    for item in items:
        if item.pk in failing:
            services.answer(run.actor, inspection, item, outcome="fail", note=NOTES[number % len(NOTES)])
            if item.photo_on_fail:
                services.add_photos(run.actor, inspection, item, [_photo(number)])
        elif item.answer_type == ChecklistItem.AnswerType.PHOTO:
            services.add_photos(run.actor, inspection, item, [_photo(number)])
        else:
            services.answer(run.actor, inspection, item, **_passing(item))
    summary = "检查完毕，发现问题已登记隐患并要求整改" if failing else "检查完毕，未发现问题"
    return services.submit(run.actor, inspection, summary=summary, representative="值班负责人")


def _runs() -> list[Run]:
    runs: list[Run] = []
    daily = _checklist("fire-daily", Kind.SELF)
    monthly = _checklist("fire-monthly", Kind.SELF)
    duty_visit = _checklist("duty-visit", Kind.DUTY)
    gb38600 = _checklist("gb38600", Kind.SECTOR)
    # Self-inspections by staff accounts (users of an institution who may inspect).
    staff = [
        u
        for u in User.objects.filter(
            is_active=True, institution__isnull=False, role_grants__role="institution_staff"
        )
        .select_related("institution")
        .distinct()
        .order_by("pk")
        if u.has_perm("inspections.add_inspection")
    ]
    if staff:
        for n, failures in enumerate((0, 1, 0, 2, 0)):
            person = staff[n % len(staff)]
            if daily is not None and _fits(daily, person.institution):
                runs.append(Run(person, person.institution, Kind.SELF, daily, failures))
        person = staff[0]
        if monthly is not None and _fits(monthly, person.institution):
            runs.append(Run(person, person.institution, Kind.SELF, monthly, 1))
    # Duty checks by the demo cadre at the institutions it is responsible for.
    cadre = User.objects.filter(username="cadre", is_active=True).first()
    if cadre is not None and duty_visit is not None:
        homes = Institution.objects.filter(
            duty_assignments__cadre=cadre, duty_assignments__active=True, status=Institution.Status.OPERATING
        ).order_by("name")
        for failures, home in zip((0, 1), [h for h in homes if _fits(duty_visit, h)], strict=False):
            runs.append(Run(cadre, home, Kind.DUTY, duty_visit, failures))
    # Sector inspections by the demo inspector, one institution in each of a few counties.
    inspector = User.objects.filter(username="inspector", is_active=True).first()
    if inspector is not None and gb38600 is not None:
        seen: set[str] = set()
        places = Institution.objects.for_user(inspector).filter(status=Institution.Status.OPERATING)
        for home in places.order_by("region_path", "name"):
            county = county_of(home.region_path)
            if not county or county in seen or not _fits(gb38600, home):
                continue
            seen.add(county)
            runs.append(Run(inspector, home, Kind.SECTOR, gb38600, (0, 1, 2, 0)[len(seen) - 1]))
            if len(seen) == SECTOR_INSTITUTIONS:
                break
    return runs


def build(stdout: Any = None) -> None:
    if Inspection.objects.filter(status=Inspection.Status.SUBMITTED).exists():
        return
    done = failed = skipped = 0
    for number, run in enumerate(_runs()):
        try:
            with transaction.atomic():  # a refused inspection leaves nothing behind
                inspection = _carry_out(run, number)
        except DomainError:
            skipped += 1
            continue
        done += 1
        failed += inspection.result != Inspection.Result.PASS
    if stdout is not None:
        stdout.write(f"inspections: {done} carried out ({failed} with failures), {skipped} skipped")
