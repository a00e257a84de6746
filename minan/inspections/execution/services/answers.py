"""Answers of a draft inspection, saved item by item, and the photos attached to them. Only the
inspector who leads the inspection writes them, while it is a draft (a dropped connection loses at most
the answer being typed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from minan.core.errors import DomainError
from minan.core.uploads import check_uploads

from ...models import Answer, AnswerPhoto, ChecklistItem, Inspection
from .lifecycle import _draft

MAX_PHOTOS_PER_ITEM = 6


def _decimal(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def judge(
    item: ChecklistItem, *, outcome: str = "", number: Any = None, text: str = ""
) -> tuple[str, Decimal | None, str]:
    """The outcome of an answer: given by the inspector for pass/fail and photo items, computed from
    the value for numbers (outside the range fails) and choices (a failing choice fails)."""
    if outcome == Answer.Outcome.NA:
        return Answer.Outcome.NA, None, ""
    kind = item.answer_type
    if kind == ChecklistItem.AnswerType.NUMBER:
        value = _decimal(number)
        if value is None:
            raise DomainError(_("Enter a number."), field="number")
        low, high = item.min_value, item.max_value
        failed = (low is not None and value < low) or (high is not None and value > high)
        return (Answer.Outcome.FAIL if failed else Answer.Outcome.PASS), value, ""
    if kind == ChecklistItem.AnswerType.CHOICE:
        if text not in item.choices:
            raise DomainError(_("Choose one of the listed answers."), field="text")
        return (Answer.Outcome.FAIL if text in item.failing_choices else Answer.Outcome.PASS), None, text
    if kind == ChecklistItem.AnswerType.TEXT:
        if not text.strip():
            raise DomainError(_("Write the answer."), field="text")
        return (outcome if outcome == Answer.Outcome.FAIL else Answer.Outcome.PASS), None, text.strip()[:2000]
    if outcome not in {Answer.Outcome.PASS, Answer.Outcome.FAIL}:
        raise DomainError(_("Choose pass, fail or not applicable."), field="outcome")
    return outcome, None, ""


@transaction.atomic
def answer(
    actor: Any,
    inspection: Inspection,
    item: ChecklistItem,
    *,
    outcome: str = "",
    number: Any = None,
    text: str = "",
    note: str = "",
) -> Answer:
    """Save (or replace) the answer to one item of a draft inspection. Not audited one by one: the
    submission is, with the whole result."""
    inspection = _draft(actor, inspection, lock=True)  # waits for a submit in progress
    if item.template_id != inspection.template_id:
        raise DomainError(_("This item is not on the inspection's checklist."), field="item")
    result, value, chosen = judge(item, outcome=outcome, number=number, text=text)
    saved, _created = Answer.objects.update_or_create(
        inspection=inspection, item=item,
        defaults={"outcome": result, "number": value, "text": chosen, "note": note.strip()[:2000],
                  "answered_by": actor},
    )  # fmt: skip
    return saved


def exif_time(upload: Any) -> dt.datetime | None:
    """When the photo was taken (EXIF DateTimeOriginal, else DateTime), as Beijing time; None if absent."""
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            exif = image.getexif()
            raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except (OSError, ValueError, SyntaxError):
        raw = None
    finally:
        upload.seek(0)
    if not raw:
        return None
    try:
        taken = dt.datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return timezone.make_aware(taken)


@transaction.atomic
def add_photos(
    actor: Any, inspection: Inspection, item: ChecklistItem, files: Sequence[Any]
) -> list[AnswerPhoto]:
    """Attach photos (JPEG or PNG, checked by decoding; size limit) to an item's answer. The answer must
    exist: answer first, then photograph; a photo item gets a "pass" answer until judged otherwise."""
    inspection = _draft(actor, inspection, lock=True)  # waits for a submit in progress
    if item.template_id != inspection.template_id:
        raise DomainError(_("This item is not on the inspection's checklist."), field="item")
    existing = Answer.objects.filter(inspection=inspection, item=item).first()
    count = existing.photos.count() if existing else 0
    if count >= MAX_PHOTOS_PER_ITEM:
        raise DomainError(
            _("This item already has %(n)d photos.") % {"n": MAX_PHOTOS_PER_ITEM},
            field="photos",
            code="too_many",
        )
    originals = list(files)
    typed = check_uploads(originals, limit=MAX_PHOTOS_PER_ITEM - count, field="photos")
    if not typed:
        raise DomainError(_("Choose a photo."), field="photos")
    if existing is None:
        if item.answer_type != ChecklistItem.AnswerType.PHOTO:
            raise DomainError(_("Answer the item before adding photos."), field="item")
        existing = Answer.objects.create(inspection=inspection, item=item, outcome=Answer.Outcome.PASS,
                                         answered_by=actor)  # fmt: skip
    photos = []
    # The time taken is read from the original: the stored copy is re-encoded without metadata.
    for original, (upload, kind, extension) in zip(originals, typed, strict=True):
        photo = AnswerPhoto(answer=existing, name=str(upload.name)[:200], content_type=kind, size=upload.size,
                            taken_at=exif_time(original))  # fmt: skip
        photo.file.save(f"inspection-{inspection.pk}-{item.code}{extension}", upload, save=True)
        photos.append(photo)
    return photos
