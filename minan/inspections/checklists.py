"""The only writer of checklists: versions, sections and items.

A checklist family shares a `code`; each version is a `ChecklistTemplate`. Only a draft is edited. Publishing
freezes a draft and retires the family's previous published version in the same transaction (the family's
rows are locked first, so there is never more than one published version, and the database constraint backs
that up). A published or retired version is never changed again (refusals carry code `published`); a change
is a new version, a copy made by `new_version`, edited and published in turn. Inspections keep the version
they started with (`Inspection.template`), so publishing changes no inspection already begun.

Checklists are deployment-wide reference data, not scoped by region: `inspections.change_checklisttemplate`
authors (system administrator, city safety office), `inspections.view_inspection` reads. Every write locks
the version it changes, validates everything before writing (a refusal is a `DomainError` with `field` and
`code`, and nothing is written) and records an audit event on the version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted
from minan.hazards.models import Category, Clause
from minan.institutions.models import Institution

from .models import ChecklistItem, ChecklistSection, ChecklistTemplate, Inspection, Kind

EDIT_PERMISSION = "inspections.change_checklisttemplate"
READ_PERMISSION = "inspections.view_inspection"
OBJECT_TYPE = "inspections.checklisttemplate"

TEMPLATE_FIELDS = ("code", "title", "description", "kinds", "institution_kinds", "cadence", "basis")
META_FIELDS = TEMPLATE_FIELDS[1:]  # what a draft's metadata edit may change (the code names the family)
ITEM_FIELDS = (
    "section", "order", "code", "question", "answer_type", "choices", "failing_choices", "min_value", "max_value",
    "unit", "photo_on_fail", "note_on_fail", "severity", "points", "major_on_fail", "clause", "basis",
    "hazard_category",
)  # fmt: skip
CONTENT_FIELDS = ITEM_FIELDS[2:]  # an item's own content, without where it sits
MAX_ITEMS = 500
MAX_SECTIONS = 100
MAX_CHOICES = 20
MAX_POINTS = 100
MAX_ORDER = 32767
NUMBER_LIMIT = Decimal("1000000000")  # DecimalField(max_digits=12, decimal_places=3)
# Item codes are stable across versions ("D01", "K-12"): letters, digits, dot, dash and underscore.
ITEM_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Choices are stored as a list; in a text box or a spreadsheet cell they are separated by these.
CHOICE_SEPARATORS = re.compile(r"[\n;；|｜]")

AnswerType = ChecklistItem.AnswerType
Status = ChecklistTemplate.Status


# --- small checks --------------------------------------------------------------------------------------------


def _require(actor: Any) -> None:
    if actor is None or not actor.has_perm(EDIT_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))


def _unknown(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise DomainError(
            _("Unknown field: %(name)s.") % {"name": unknown[0]}, field=unknown[0], code="unknown_field"
        )


def _text(value: Any, name: str, limit: int, *, required: str | None = None) -> str:
    text = "" if value is None else str(value).strip()
    if required is not None and not text:
        raise DomainError(required, field=name, code="required")
    if len(text) > limit:
        raise DomainError(_("At most %(limit)d characters.") % {"limit": limit}, field=name, code="too_long")
    return text


def _values_in(value: Any, name: str, allowed: Sequence[str], message: str) -> list[str]:
    """A list of distinct codes out of `allowed`, in the order of `allowed`."""
    if value in (None, ""):
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise DomainError(message, field=name, code="invalid_choice")
    given = [str(v).strip() for v in value]
    if any(v not in allowed for v in given):
        raise DomainError(message, field=name, code="invalid_choice")
    return [v for v in allowed if v in given]


def split_choices(value: Any) -> list[str]:
    """Choices from a list, or from text separated by new lines, ；, ; or | (empty parts dropped)."""
    if value in (None, ""):
        return []
    parts = CHOICE_SEPARATORS.split(value) if isinstance(value, str) else [str(v) for v in value]
    return [p.strip() for p in parts if p and p.strip()]


def immutable(template: ChecklistTemplate) -> DomainError:
    return DomainError(
        _("Version %(version)d of %(code)s is %(status)s and can no longer be changed; make a new version.")
        % {"version": template.version, "code": template.code, "status": template.get_status_display()},
        code="published",
    )


def _locked_draft(template: ChecklistTemplate) -> ChecklistTemplate:
    """The version, row-locked, if it is still a draft (every edit of a version starts here)."""
    locked = ChecklistTemplate.objects.select_for_update().filter(pk=template.pk).first()
    if locked is None:
        raise DomainError(_("The checklist no longer exists."), code="not_found")
    if locked.status != Status.DRAFT:
        raise immutable(locked)
    return locked


def _label(template: ChecklistTemplate) -> str:
    return f"{template.code} v{template.version}"


def _on(template: ChecklistTemplate, detail: str) -> dict[str, Any]:
    """The audit event's target (the version) and detail."""
    return {"object_type": OBJECT_TYPE, "object_id": template.pk, "detail": detail[:500]}


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


# --- sections --------------------------------------------------------------------------------------------------


def _section_title(value: Any) -> str:
    return _text(value, "title", 200, required=_("Enter the title of the section."))


def _next_order(model: Any, **where: Any) -> int:
    last = model.objects.filter(**where).aggregate(last=Max("order"))["last"]
    return 1 if last is None else min(last + 1, MAX_ORDER)


def _new_section(template: ChecklistTemplate, title: str) -> ChecklistSection:
    if ChecklistSection.objects.filter(template=template).count() >= MAX_SECTIONS:
        raise DomainError(
            _("A checklist has at most %(max)d sections.") % {"max": MAX_SECTIONS},
            field="section",
            code="too_many",
        )
    return ChecklistSection.objects.create(
        template=template, title=title, order=_next_order(ChecklistSection, template=template)
    )


@transaction.atomic
def save_section(
    actor: Any,
    template: ChecklistTemplate,
    section: ChecklistSection | None = None,
    *,
    title: Any,
    request: Any = None,
) -> ChecklistSection:
    """Add a section at the end of a draft (`section` None) or rename one of its sections."""
    _require(actor)
    target = _locked_draft(template)
    clean = _section_title(title)
    if section is None:
        created = _new_section(target, clean)
        record(
            "checklist.section_create",
            user=actor,
            request=request,
            **_on(target, f"{_label(target)} {clean}"),
        )
        return created
    found = ChecklistSection.objects.filter(pk=section.pk, template=target).first()
    if found is None:
        raise DomainError(
            _("The section is not part of this checklist."), field="section", code="wrong_section"
        )
    if found.title != clean:
        changes = diff({"title": found.title}, {"title": clean})
        found.title = clean
        found.save(update_fields=["title"])
        record("checklist.section_change", user=actor, request=request, **_on(target, f"{_label(target)} {clean}"),
               changes=changes)  # fmt: skip
    return found


@transaction.atomic
def delete_section(actor: Any, section: ChecklistSection, *, request: Any = None) -> None:
    """Delete a section of a draft together with its items."""
    _require(actor)
    target = _locked_draft(section.template)
    found = ChecklistSection.objects.filter(pk=section.pk, template=target).first()
    if found is None:
        raise DomainError(_("The section no longer exists."), code="not_found")
    codes = list(
        ChecklistItem.objects.filter(section=found).order_by("order", "id").values_list("code", flat=True)
    )
    found.delete()
    record("checklist.section_delete", user=actor, request=request,
           **_on(target, f"{_label(target)} {found.title}: {', '.join(codes) or '-'}"))  # fmt: skip


def _reorder(model: Any, rows: list[Any], ordered_ids: Sequence[int]) -> bool:
    """Number `rows` 1, 2, … in the order of `ordered_ids`, which must name each row exactly once."""
    refusal = DomainError(_("Give every entry exactly once to reorder."), field="order", code="invalid_order")
    try:
        ids = [int(i) for i in ordered_ids]
    except (TypeError, ValueError):
        raise refusal from None
    if sorted(ids) != sorted(r.pk for r in rows):
        raise refusal
    current = {r.pk: r.order for r in rows}
    changed = False
    for position, pk in enumerate(ids, start=1):
        if current[pk] != position:
            model.objects.filter(pk=pk).update(order=position)
            changed = True
    return changed


@transaction.atomic
def reorder_sections(
    actor: Any, template: ChecklistTemplate, ordered_ids: Sequence[int], *, request: Any = None
) -> None:
    """Put a draft's sections in the given order (every section id exactly once)."""
    _require(actor)
    target = _locked_draft(template)
    rows = list(ChecklistSection.objects.filter(template=target))
    if _reorder(ChecklistSection, rows, ordered_ids):
        titles = {r.pk: r.title for r in rows}
        record("checklist.reorder", user=actor, request=request,
               **_on(target, f"{_label(target)}: " + " / ".join(titles[int(i)] for i in ordered_ids)))  # fmt: skip


@transaction.atomic
def reorder_items(
    actor: Any, section: ChecklistSection, ordered_ids: Sequence[int], *, request: Any = None
) -> None:
    """Put the items of a draft's section in the given order (every item id exactly once)."""
    _require(actor)
    target = _locked_draft(section.template)
    rows = list(ChecklistItem.objects.filter(section_id=section.pk, template=target))
    if _reorder(ChecklistItem, rows, ordered_ids):
        codes = {r.pk: r.code for r in rows}
        record("checklist.reorder", user=actor, request=request,
               **_on(target, f"{_label(target)} {section.title}: " + ", ".join(codes[int(i)] for i in ordered_ids)))  # fmt: skip


def move_section(actor: Any, section: ChecklistSection, step: int, *, request: Any = None) -> None:
    """Move a section one place up (step -1) or down (+1)."""
    ids = list(
        ChecklistSection.objects.filter(template_id=section.template_id)
        .order_by("order", "id")
        .values_list("pk", flat=True)
    )
    reorder_sections(actor, section.template, _moved(ids, section.pk, step), request=request)


def move_item(actor: Any, item: ChecklistItem, step: int, *, request: Any = None) -> None:
    """Move an item one place up (step -1) or down (+1) within its section."""
    ids = list(
        ChecklistItem.objects.filter(section_id=item.section_id)
        .order_by("order", "id")
        .values_list("pk", flat=True)
    )
    reorder_items(actor, item.section, _moved(ids, item.pk, step), request=request)


def _moved(ids: list[int], pk: int, step: int) -> list[int]:
    if pk in ids:
        at = ids.index(pk)
        to = max(0, min(len(ids) - 1, at + (1 if step > 0 else -1)))
        ids[at], ids[to] = ids[to], ids[at]
    return ids


# --- items -----------------------------------------------------------------------------------------------------


@dataclass
class ItemCheck:
    """The cleaned values of an item and every problem found (field, code, message), so that the
    spreadsheet import can report all of a row's problems at once."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def fail(self, name: str, code: str, message: str) -> None:
        self.problems.append((name, code, message))


def _number(check: ItemCheck, name: str, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        check.fail(name, "invalid_number", _("Enter a number."))
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        check.fail(name, "invalid_number", _("Enter a number."))
        return None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        check.fail(name, "invalid_number", _("Enter a number below one billion."))
        return None
    if number != number.quantize(Decimal("0.001")):
        check.fail(name, "invalid_number", _("Use at most 3 decimal places."))
        return None
    return number.quantize(Decimal("0.001"))


def check_item(values: Mapping[str, Any], *, clause_by_key: Callable[[str], Clause | None]) -> ItemCheck:
    """Check an item's content (everything but where it sits) and clean it. Rules by answer type:
    a choice item has 2 to 20 distinct choices and its failing choices are among them (at least one
    choice passes); a number item's lower bound is not above its upper bound; choices belong only to
    choice items, bounds and unit only to number items. The clause is a key of the criteria catalogue."""
    check = ItemCheck()
    out = check.values

    def text(name: str, limit: int, required: str | None = None) -> str:
        try:
            return _text(values.get(name), name, limit, required=required)
        except DomainError as exc:
            check.fail(name, exc.code, exc.message)
            return ""

    code = text("code", 20, _("Enter the item code, e.g. D01."))
    if code and not ITEM_CODE.match(code):
        check.fail("code", "invalid_code", _("Use letters, digits, dots, dashes and underscores, e.g. D01."))
    out["code"] = code
    out["question"] = text("question", 1000, _("Enter what is checked."))
    answer_type = str(values.get("answer_type") or AnswerType.PASS_FAIL).strip()
    if answer_type not in AnswerType.values:
        check.fail("answer_type", "invalid_choice", _("Choose a listed answer type."))
    out["answer_type"] = answer_type

    choices, failing = split_choices(values.get("choices")), split_choices(values.get("failing_choices"))
    if answer_type == AnswerType.CHOICE:
        if len(set(choices)) != len(choices):
            check.fail("choices", "duplicate", _("Each choice may appear only once."))
        elif not 2 <= len(choices) <= MAX_CHOICES:
            check.fail("choices", "choices", _("Give from 2 to %(max)d choices.") % {"max": MAX_CHOICES})
        elif any(len(c) > 100 for c in choices):
            check.fail("choices", "too_long", _("A choice has at most 100 characters."))
        unknown = [c for c in failing if c not in choices]
        if unknown:
            check.fail(
                "failing_choices",
                "not_a_choice",
                _("“%(choice)s” is not one of the choices.") % {"choice": unknown[0]},
            )
        elif choices and set(choices) <= set(failing):
            check.fail("failing_choices", "all_fail", _("At least one choice must pass."))
        failing = [c for c in choices if c in failing]  # the choices' order, once each
    elif choices or failing:
        check.fail(
            "choices" if choices else "failing_choices",
            "not_choice",
            _("Only a choice item has choices."),
        )
    out["choices"], out["failing_choices"] = choices, failing

    low, high = (
        _number(check, "min_value", values.get("min_value")),
        _number(check, "max_value", values.get("max_value")),
    )
    out["unit"] = text("unit", 20)
    if answer_type == AnswerType.NUMBER:
        if low is not None and high is not None and low > high:
            check.fail("max_value", "min_above_max", _("The upper limit cannot be below the lower limit."))
    elif low is not None or high is not None or out["unit"]:
        name = "min_value" if low is not None else "max_value" if high is not None else "unit"
        check.fail(name, "not_number", _("Only a number item has limits and a unit."))
    out["min_value"], out["max_value"] = low, high

    for name, default in (("photo_on_fail", False), ("note_on_fail", True), ("major_on_fail", False)):
        value = values.get(name)
        out[name] = default if value is None else bool(value)
    severity = str(values.get("severity") or ChecklistItem.Severity.MEDIUM).strip()
    if severity not in ChecklistItem.Severity.values:
        check.fail("severity", "invalid_choice", _("Choose a listed severity."))
    out["severity"] = severity
    category = str(values.get("hazard_category") or Category.FIRE).strip()
    if category not in Category.values:
        check.fail("hazard_category", "invalid_choice", _("Choose a listed hazard category."))
    out["hazard_category"] = category
    points = values.get("points")
    points = 1 if points is None or points == "" else points
    if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
        check.fail("points", "out_of_range", _("Enter whole points from 0 to %(max)d.") % {"max": MAX_POINTS})
        points = 1
    out["points"] = points
    out["basis"] = text("basis", 200)

    clause = values.get("clause")
    if isinstance(clause, Clause):
        out["clause"] = clause
    elif clause in (None, ""):
        out["clause"] = None
    else:
        key = str(clause).strip()
        out["clause"] = clause_by_key(key)
        if out["clause"] is None:
            check.fail(
                "clause",
                "unknown_clause",
                _("No clause of the criteria catalogue has the key %(key)s.") % {"key": key},
            )
    return check


def clause_lookup() -> Callable[[str], Clause | None]:
    """Clauses by key, each read once (the import checks many rows)."""
    cache: dict[str, Clause | None] = {}

    def find(key: str) -> Clause | None:
        if key not in cache:
            cache[key] = Clause.objects.select_related("criteria_set").filter(key=key).first()
        return cache[key]

    return find


def _item_facts(item: ChecklistItem) -> dict[str, Any]:
    facts = snapshot(item, [name for name in CONTENT_FIELDS if name != "clause"])
    facts["clause"] = item.clause.key if item.clause_id and item.clause else None
    facts["section"] = item.section.title
    facts["order"] = item.order
    return facts


@transaction.atomic
def save_item(
    actor: Any,
    template: ChecklistTemplate,
    item: ChecklistItem | None = None,
    *,
    request: Any = None,
    **fields: Any,
) -> ChecklistItem:
    """Add an item to a draft (`item` None) or change one of its items. Fields left out keep their
    value. `section` is a section of the draft, or a title: the section of that title, added at the
    end if the draft has none. A new item (or one moved to another section) without an `order` goes
    last in its section. The item code is unique within the version (code `duplicate`)."""
    _require(actor)
    _unknown(fields, ITEM_FIELDS)
    target = _locked_draft(template)
    creating = item is None
    if item is not None:
        found = ChecklistItem.objects.select_related("section", "clause").filter(pk=item.pk).first()
        if found is None or found.template_id != target.pk:
            raise DomainError(_("The item is not part of this checklist."), field="item", code="wrong_item")
        item = found
    current = item or ChecklistItem(template=target)
    before = {} if item is None else _item_facts(item)
    values: dict[str, Any] = {name: getattr(current, name) for name in CONTENT_FIELDS if name != "clause"}
    values["clause"] = current.clause if item is not None and current.clause_id else None
    values.update({k: v for k, v in fields.items() if k not in ("section", "order")})
    check = check_item(values, clause_by_key=clause_lookup())
    if check.problems:
        name, code, message = check.problems[0]
        raise DomainError(message, field=name, code=code)
    cleaned = check.values
    if ChecklistItem.objects.filter(template=target, code=cleaned["code"]).exclude(pk=current.pk).exists():
        raise DomainError(
            _("Another item of this version has the code %(code)s.") % {"code": cleaned["code"]},
            field="code",
            code="duplicate",
        )
    if creating and ChecklistItem.objects.filter(template=target).count() >= MAX_ITEMS:
        raise DomainError(
            _("A checklist has at most %(max)d items.") % {"max": MAX_ITEMS}, field="item", code="too_many"
        )
    section = _item_section(target, fields.get("section", item.section if item is not None else None))
    order = fields.get("order")
    if order in (None, ""):
        moved = item is None or item.section_id != section.pk
        order = _next_order(ChecklistItem, section=section) if moved else current.order
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise DomainError(_("Enter an order from 0 to 32767."), field="order", code="out_of_range")
    for name, value in cleaned.items():
        setattr(current, name, value)
    current.section, current.order = section, order
    try:
        with transaction.atomic():
            current.save()
    except IntegrityError:  # the same code saved meanwhile
        raise DomainError(
            _("Another item of this version has the code %(code)s.") % {"code": cleaned["code"]},
            field="code",
            code="duplicate",
        ) from None
    changes = diff(before, _item_facts(current))
    if creating or changes:
        record("checklist.item_create" if creating else "checklist.item_change", user=actor, request=request,
               **_on(target, f"{_label(target)} {current.code}"), changes=changes)  # fmt: skip
    return current


def _item_section(template: ChecklistTemplate, section: Any) -> ChecklistSection:
    if isinstance(section, ChecklistSection):
        found = ChecklistSection.objects.filter(pk=section.pk, template=template).first()
        if found is None:
            raise DomainError(
                _("The section is not part of this checklist."), field="section", code="wrong_section"
            )
        return found
    if isinstance(section, str) and section.strip():
        title = _text(section, "section", 200)
        existing = (
            ChecklistSection.objects.filter(template=template, title=title).order_by("order", "id").first()
        )
        return existing or _new_section(template, title)
    raise DomainError(_("Choose a section."), field="section", code="required")


@transaction.atomic
def delete_item(actor: Any, item: ChecklistItem, *, request: Any = None) -> None:
    """Delete an item of a draft."""
    _require(actor)
    target = _locked_draft(item.template)
    found = (
        ChecklistItem.objects.select_related("section", "clause").filter(pk=item.pk, template=target).first()
    )
    if found is None:
        raise DomainError(_("The item no longer exists."), code="not_found")
    before = _item_facts(found)
    found.delete()
    record("checklist.item_delete", user=actor, request=request, **_on(target, f"{_label(target)} {before['code']}"),
           changes=diff(before, {}))  # fmt: skip


# --- the whole content at once (spreadsheet import) ---------------------------------------------------------


@dataclass
class PlannedSection:
    title: str
    items: list[dict[str, Any]]  # cleaned item values (check_item), in order


@transaction.atomic
def replace_content(
    actor: Any,
    draft: ChecklistTemplate,
    sections: Sequence[PlannedSection],
    *,
    request: Any = None,
    source: str = "",
) -> int:
    """Replace all sections and items of a draft with `sections` (checked item by item again: the
    caller's check is not trusted). Returns the number of items. Used by the spreadsheet import,
    which has reported every problem of the file before calling this."""
    _require(actor)
    target = _locked_draft(draft)
    lookup = clause_lookup()
    checked: list[tuple[str, list[dict[str, Any]]]] = []
    codes: set[str] = set()
    for planned in sections:
        title = _section_title(planned.title)
        cleaned = []
        for values in planned.items:
            check = check_item(values, clause_by_key=lookup)
            if check.problems:
                name, code, message = check.problems[0]
                raise DomainError(f"{values.get('code', '')}: {message}", field=name, code=code)
            if check.values["code"] in codes:
                raise DomainError(
                    _("Another item of this version has the code %(code)s.") % {"code": check.values["code"]},
                    field="code",
                    code="duplicate",
                )
            codes.add(check.values["code"])
            cleaned.append(check.values)
        checked.append((title, cleaned))
    if not codes:
        raise DomainError(_("The file has no data rows."), code="empty")
    if len(codes) > MAX_ITEMS or len(checked) > MAX_SECTIONS:
        raise DomainError(
            _("A checklist has at most %(max)d items.") % {"max": MAX_ITEMS}, field="item", code="too_many"
        )
    before = ChecklistItem.objects.filter(template=target).count()
    ChecklistItem.objects.filter(template=target).delete()
    ChecklistSection.objects.filter(template=target).delete()
    for position, (title, items) in enumerate(checked, start=1):
        section = ChecklistSection.objects.create(template=target, order=position, title=title)
        ChecklistItem.objects.bulk_create(
            ChecklistItem(template=target, section=section, order=order, **values)
            for order, values in enumerate(items, start=1)
        )
    record("checklist.import", user=actor, request=request,
           **_on(target, f"{_label(target)} {source}: {len(codes)} items in {len(checked)} sections, replacing {before}"))  # fmt: skip
    return len(codes)
