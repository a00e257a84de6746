"""What a checklist version and its items may say: the limits, the checks every write runs before
writing (`check_item` also serves the spreadsheet import, which reports all of a row's problems), and
the small helpers the writers share (permission, the locked draft, the audit target)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from minan.core.errors import DomainError, NotPermitted
from minan.hazards.models import Category, Clause

from ...models import ChecklistItem, ChecklistTemplate

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
