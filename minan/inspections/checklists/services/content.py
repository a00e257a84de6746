"""The content of a draft version: its sections and items, added, changed, reordered and deleted one
by one, or replaced all at once by the spreadsheet import (`replace_content`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError

from ...models import ChecklistItem, ChecklistSection, ChecklistTemplate
from .checks import (
    CONTENT_FIELDS,
    ITEM_FIELDS,
    MAX_ITEMS,
    MAX_ORDER,
    MAX_SECTIONS,
    _label,
    _locked_draft,
    _on,
    _require,
    _text,
    _unknown,
    check_item,
    clause_lookup,
)

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
