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

from .checks import (
    CONTENT_FIELDS,
    EDIT_PERMISSION,
    ITEM_FIELDS,
    MAX_CHOICES,
    MAX_ITEMS,
    MAX_ORDER,
    MAX_POINTS,
    MAX_SECTIONS,
    META_FIELDS,
    OBJECT_TYPE,
    READ_PERMISSION,
    TEMPLATE_FIELDS,
    ItemCheck,
    check_item,
    clause_lookup,
    immutable,
    split_choices,
)
from .content import (
    PlannedSection,
    delete_item,
    delete_section,
    move_item,
    move_section,
    reorder_items,
    reorder_sections,
    replace_content,
    save_item,
    save_section,
)
from .versions import create_draft, delete_draft, new_version, publish, update_draft

__all__ = [
    "CONTENT_FIELDS",
    "EDIT_PERMISSION",
    "ITEM_FIELDS",
    "MAX_CHOICES",
    "MAX_ITEMS",
    "MAX_ORDER",
    "MAX_POINTS",
    "MAX_SECTIONS",
    "META_FIELDS",
    "OBJECT_TYPE",
    "READ_PERMISSION",
    "TEMPLATE_FIELDS",
    "ItemCheck",
    "PlannedSection",
    "check_item",
    "clause_lookup",
    "create_draft",
    "delete_draft",
    "delete_item",
    "delete_section",
    "immutable",
    "move_item",
    "move_section",
    "new_version",
    "publish",
    "reorder_items",
    "reorder_sections",
    "replace_content",
    "save_item",
    "save_section",
    "split_choices",
    "update_draft",
]
