"""Who may manage whom: the one rule every user-management action checks."""

from __future__ import annotations

from django.utils.translation import gettext as _

from minan.core.errors import NotPermitted, OutOfScope
from minan.core.scoping import in_scope, region_within_scope

from ..models import RoleGrant, User, UserScope
from ..roles import ROLE_LABELS, SECURITY_ADMIN


def _require(actor: User, perm: str) -> None:
    if not actor.has_perm(perm):
        raise NotPermitted(_("You do not have permission to do this."))


def _entry_within(actor: User, entry: UserScope) -> bool:
    """Whether one scope entry of another user lies wholly inside the actor's own scope."""
    if entry.institution_id is not None:
        institution = entry.institution
        assert institution is not None
        return in_scope(actor, institution.region_path, kind=institution.kind, institution_id=institution.pk)
    assert entry.region is not None
    path = entry.region.region_path
    if entry.kinds:
        return all(in_scope(actor, path, kind=kind) for kind in entry.kinds)
    return region_within_scope(actor, path)


def may_manage(actor: User | None, target: User) -> bool:
    """The one rule for every user-management action (edit, reset, enable/disable, roles, scope, unlock,
    second factor, tokens): the target is visible to the actor, holds only roles the actor may grant,
    and every one of its scope entries (derived ones included) lies inside the actor's scope.

    Otherwise acting on the target could hand the actor access it does not have (reset the password
    of someone who sees more, then sign in as them). Nobody manages their own account through this
    path, and only a superuser manages a superuser. `actor` None is the system itself."""
    if actor is None:
        return True
    if not actor.is_authenticated or not actor.is_active or actor.pk == target.pk:
        return False
    if target.is_superuser and not actor.is_superuser:
        return False
    if not User.objects.for_user(actor, "view").filter(pk=target.pk).exists():
        return False
    roles = set(RoleGrant.objects.filter(user=target).values_list("role", flat=True))
    if not all(can_grant_role(actor, role) for role in roles):
        return False
    entries = UserScope.objects.filter(user=target).select_related("region", "institution")
    return all(_entry_within(actor, entry) for entry in entries)


def require_manageable(actor: User | None, target: User) -> None:
    """Raise unless may_manage(): a user the actor may not manage answers like a missing one."""
    if actor is not None and actor.pk == target.pk:
        raise NotPermitted(_("You cannot do this to your own account."), code="own_account")
    if not may_manage(actor, target):
        raise OutOfScope(_("User not found."))


def can_grant_role(actor: User | None, role: str) -> bool:
    """A user grants only roles it holds; the security administrator's job is granting roles.

    `actor` None is the system itself (command line, demo data), which may grant any role."""
    if actor is None:
        return role in ROLE_LABELS
    if not actor.has_perm("accounts.grant_role") or role not in ROLE_LABELS:
        return False
    return role in actor.role_codes or SECURITY_ADMIN in actor.role_codes
