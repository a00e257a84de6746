"""The institution registry's writers, one module per concept: `registry` (facts, commissioners,
insurance) and `lists` (subtypes, ownership models); classification, codes (一院一码) and imports (the
xlsx import) are sub-packages with their own `services.py`.
Callers use the names re-exported here: `from minan.institutions import services`."""

from .lists import save_ownership, save_subtype
from .registry import (
    FACT_FIELDS,
    PolicyData,
    add_policy,
    after_facts_changed,
    claim_expiry_reminder,
    create_institution,
    delete_policy,
    remove_commissioner,
    require,
    set_commissioner,
    update_institution,
)

__all__ = [
    "FACT_FIELDS",
    "PolicyData",
    "add_policy",
    "after_facts_changed",
    "claim_expiry_reminder",
    "create_institution",
    "delete_policy",
    "remove_commissioner",
    "require",
    "save_ownership",
    "save_subtype",
    "set_commissioner",
    "update_institution",
]
