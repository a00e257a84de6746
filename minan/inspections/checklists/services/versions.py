"""Checklist versions: start a family as a draft, edit what a draft says about itself, publish it
(retiring the previous published version), copy a version into a new draft, delete a draft."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError
from minan.institutions.models import Institution

from ...models import ChecklistItem, ChecklistSection, ChecklistTemplate, Inspection, Kind
from .checks import (
    CONTENT_FIELDS,
    META_FIELDS,
    OBJECT_TYPE,
    TEMPLATE_FIELDS,
    Status,
    _label,
    _locked_draft,
    _on,
    _require,
    _text,
    _unknown,
    _values_in,
    immutable,
)

# --- versions --------------------------------------------------------------------------------------------------


def _clean_template(values: Mapping[str, Any]) -> dict[str, Any]:
    code = _text(values.get("code"), "code", 40, required=_("Enter a code."))
    if not slug_re.match(code):
        raise DomainError(
            _("Use letters, digits, hyphens and underscores only, e.g. fire-daily."),
            field="code",
            code="invalid_code",
        )
    return {
        "code": code,
        "title": _text(values.get("title"), "title", 200, required=_("Enter the title of the checklist.")),
        "description": _text(values.get("description"), "description", 2000),
        "kinds": _values_in(values.get("kinds"), "kinds", Kind.values, _("Choose listed inspection kinds.")),
        "institution_kinds": _values_in(
            values.get("institution_kinds"),
            "institution_kinds",
            Institution.Kind.values,
            _("Choose listed institution kinds."),
        ),
        "cadence": _cadence(values.get("cadence")),
        "basis": _text(values.get("basis"), "basis", 300),
    }


def _cadence(value: Any) -> str:
    cadence = "" if value is None else str(value).strip()
    if cadence not in ChecklistTemplate.Cadence.values:
        raise DomainError(_("Choose a listed cadence."), field="cadence", code="invalid_choice")
    return cadence


@transaction.atomic
def create_draft(actor: Any, *, request: Any = None, **fields: Any) -> ChecklistTemplate:
    """Start a new checklist family: version 1, a draft without items. A code already in use is refused
    (code `duplicate`): a change to an existing checklist is a new version of it."""
    _require(actor)
    _unknown(fields, TEMPLATE_FIELDS)
    cleaned = _clean_template(fields)
    duplicate = DomainError(
        _("A checklist with the code %(code)s already exists; make a new version of it instead.")
        % {"code": cleaned["code"]},
        field="code",
        code="duplicate",
    )
    if ChecklistTemplate.objects.filter(code=cleaned["code"]).exists():
        raise duplicate
    template = ChecklistTemplate(version=1, status=Status.DRAFT, created_by=actor, **cleaned)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # created meanwhile by someone else
        raise duplicate from None
    record("checklist.create", user=actor, request=request, **_on(template, _label(template)),
           changes=diff({}, snapshot(template, TEMPLATE_FIELDS)))  # fmt: skip
    return template


@transaction.atomic
def update_draft(
    actor: Any, template: ChecklistTemplate, *, request: Any = None, **fields: Any
) -> ChecklistTemplate:
    """Change what a draft says about itself (title, description, kinds, institution kinds, cadence,
    basis). Fields left out keep their value; the code cannot change."""
    _require(actor)
    _unknown(fields, TEMPLATE_FIELDS)
    target = _locked_draft(template)
    if "code" in fields and str(fields["code"]).strip() != target.code:
        raise DomainError(_("The code of a checklist cannot change."), field="code", code="code_fixed")
    before = snapshot(target, META_FIELDS)
    values = {name: getattr(target, name) for name in TEMPLATE_FIELDS}
    values.update({k: v for k, v in fields.items() if k != "code"})
    for name, value in _clean_template(values).items():
        setattr(target, name, value)
    changes = diff(before, snapshot(target, META_FIELDS))
    if changes:
        target.save(update_fields=list(META_FIELDS))
        record(
            "checklist.change", user=actor, request=request, **_on(target, _label(target)), changes=changes
        )
    return target


@transaction.atomic
def publish(actor: Any, draft: ChecklistTemplate, *, request: Any = None) -> ChecklistTemplate:
    """Publish a draft: it becomes the family's published version and the previous published version
    is retired, in one transaction. The family's rows are locked first, so two publications (or a
    publication and a new version) queue up; a draft without items is refused (code `empty`)."""
    _require(actor)
    family = list(ChecklistTemplate.objects.select_for_update().filter(code=draft.code).order_by("version"))
    target = next((t for t in family if t.pk == draft.pk), None)
    if target is None:
        raise DomainError(_("The checklist no longer exists."), code="not_found")
    if target.status != Status.DRAFT:
        raise immutable(target)
    if not ChecklistItem.objects.filter(template=target).exists():
        raise DomainError(_("Add at least one item before publishing."), code="empty")
    previous = [t for t in family if t.status == Status.PUBLISHED]
    ChecklistTemplate.objects.filter(pk__in=[t.pk for t in previous], status=Status.PUBLISHED).update(
        status=Status.RETIRED
    )
    now = timezone.now()
    moved = ChecklistTemplate.objects.filter(pk=target.pk, status=Status.DRAFT).update(
        status=Status.PUBLISHED, published_at=now, published_by=actor
    )
    if not moved:  # pragma: no cover - the row lock above prevents it
        raise DomainError(_("The checklist was changed meanwhile; try again."), code="conflict")
    target.refresh_from_db()
    retired = "".join(f", v{t.version} retired" for t in previous)
    record("checklist.publish", user=actor, request=request, **_on(target, f"{_label(target)}{retired}"))
    return target


@transaction.atomic
def new_version(actor: Any, template: ChecklistTemplate, *, request: Any = None) -> ChecklistTemplate:
    """Copy a published or retired version, with its sections and items, into a new draft numbered
    after the family's highest version. Refused while the family has a draft (code `draft_exists`):
    edit or delete that one first."""
    _require(actor)
    # Locked in version order, like `publish`, so that the two never wait for each other crosswise.
    family = list(
        ChecklistTemplate.objects.select_for_update().filter(code=template.code).order_by("version")
    )
    source = next((t for t in family if t.pk == template.pk), None)
    if source is None:
        raise DomainError(_("The checklist no longer exists."), code="not_found")
    draft = next((t for t in family if t.status == Status.DRAFT), None)
    if draft is not None:
        raise DomainError(
            _("Version %(version)d of %(code)s is already a draft; edit it or delete it first.")
            % {"version": draft.version, "code": draft.code},
            code="draft_exists",
        )
    copy = ChecklistTemplate(
        code=source.code, version=max(t.version for t in family) + 1, status=Status.DRAFT, created_by=actor,
        **{name: getattr(source, name) for name in META_FIELDS},
    )  # fmt: skip
    try:
        with transaction.atomic():
            copy.save()
    except IntegrityError:  # made meanwhile by someone else
        raise DomainError(
            _("A new version of %(code)s was just made by someone else.") % {"code": source.code},
            code="draft_exists",
        ) from None
    sections = {}
    for section in ChecklistSection.objects.filter(template=source).order_by("order", "id"):
        sections[section.pk] = ChecklistSection.objects.create(
            template=copy, order=section.order, title=section.title
        )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(
            template=copy, section=sections[item.section_id], order=item.order,
            **{name: getattr(item, name) for name in CONTENT_FIELDS if name != "clause"}, clause_id=item.clause_id,
        )
        for item in ChecklistItem.objects.filter(template=source).order_by("section__order", "order", "id")
    )  # fmt: skip
    record("checklist.new_version", user=actor, request=request,
           **_on(copy, f"{_label(copy)} from v{source.version}"))  # fmt: skip
    return copy


@transaction.atomic
def delete_draft(actor: Any, draft: ChecklistTemplate, *, request: Any = None) -> None:
    """Delete a draft (with its sections and items) that no inspection uses. Published and retired
    versions stay: inspections and the record refer to them."""
    _require(actor)
    target = _locked_draft(draft)
    if Inspection.objects.filter(template=target).exists():
        raise DomainError(_("Inspections use this version, so it cannot be deleted."), code="in_use")
    pk, label = target.pk, _label(target)
    items = ChecklistItem.objects.filter(template=target).count()
    target.delete()
    record("checklist.delete", user=actor, request=request, object_type=OBJECT_TYPE, object_id=pk,
           detail=f"{label}, {items} items")  # fmt: skip
