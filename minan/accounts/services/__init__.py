"""Every write to accounts goes through here: transactional, permission-checked, audited.

One module per concept: `managing` (who may manage whom: the rule every user-management action checks),
`people` (users, roles and granted scope), `passwords`, `second_factor` (TOTP and recovery codes),
`lifecycle` (dormant and expired accounts, unlock, provisioning), `tokens` (API tokens) and
`derived_scope` (scope that follows a 包保 assignment, a supervision group or an inspection task).
Callers use the names re-exported here: `from minan.accounts import services as accounts`."""

from .derived_scope import grant_derived_scope, revoke_derived_scope, set_derived_regions
from .lifecycle import (
    clear_login_failures,
    disable_dormant_accounts,
    make_unusable_hash,
    provision_totp,
    reset_totp,
    unlock_user,
)
from .managing import can_grant_role, may_manage, require_manageable
from .passwords import change_password, reset_password
from .people import (
    EDITABLE_FIELDS,
    PROFILE_FIELDS,
    SELF_EDITABLE_FIELDS,
    add_scope,
    create_account,
    create_user,
    grant_role,
    remove_scope,
    revoke_role,
    set_active,
    update_user,
)
from .second_factor import (
    confirm_totp,
    regenerate_recovery_codes,
    start_totp_enrolment,
    totp_device,
    verify_second_factor,
)
from .tokens import issue_token, note_token_use, revoke_token, visible_tokens

__all__ = [
    "EDITABLE_FIELDS",
    "PROFILE_FIELDS",
    "SELF_EDITABLE_FIELDS",
    "add_scope",
    "can_grant_role",
    "change_password",
    "clear_login_failures",
    "confirm_totp",
    "create_account",
    "create_user",
    "disable_dormant_accounts",
    "grant_derived_scope",
    "grant_role",
    "issue_token",
    "make_unusable_hash",
    "may_manage",
    "note_token_use",
    "provision_totp",
    "regenerate_recovery_codes",
    "remove_scope",
    "require_manageable",
    "reset_password",
    "reset_totp",
    "revoke_derived_scope",
    "revoke_role",
    "revoke_token",
    "set_active",
    "set_derived_regions",
    "start_totp_enrolment",
    "totp_device",
    "unlock_user",
    "update_user",
    "verify_second_factor",
    "visible_tokens",
]
