"""Users, their roles and their granted scope: create, edit, enable/disable, grant and revoke."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import forget, in_scope, region_within_scope
from minan.institutions.models import Institution
from minan.regions.models import Region

from ..models import PasswordHistory, RoleGrant, User, UserScope
from ..roles import ADMIN_ROLES, CADRE, ROLE_LABELS, SUPERVISION_MEMBER
from .managing import _require, can_grant_role, require_manageable
from .passwords import _validate_password
from .tokens import _end_tokens

PROFILE_FIELDS = ("display_name", "phone", "email", "region_id", "institution_id", "expires_at", "is_active")
EDITABLE_FIELDS = frozenset({"display_name", "phone", "email", "region", "institution", "expires_at"})
# What a user may change on their own account; placement and expiry are account controls.
SELF_EDITABLE_FIELDS = frozenset({"display_name", "phone", "email"})


def _check_place(actor: User, region: Region, institution: Institution | None) -> None:
    if institution is not None:
        if institution.region_id != region.pk:
            raise DomainError(_("The institution is not in the chosen region."), field="institution")
        if not in_scope(actor, institution.region_path, kind=institution.kind, institution_id=institution.pk):
            raise OutOfScope(_("The institution is outside your scope."), field="institution")
    elif not in_scope(actor, region.region_path):
        raise OutOfScope(_("The region is outside your scope."), field="region")


@transaction.atomic
def create_user(
    actor: User | None,
    *,
    username: str,
    display_name: str,
    password: str | None,
    region: Region,
    institution: Institution | None = None,
    phone: str = "",
    email: str = "",
    expires_at: Any = None,
    must_change_password: bool = True,
    request: Any = None,
) -> User:
    """Create an account. `actor` None means the system itself (demo data, command line)."""
    if actor is not None:
        _require(actor, "accounts.add_user")
        _check_place(actor, region, institution)
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError(
            _("The username %(name)s is taken.") % {"name": username}, code="duplicate", field="username"
        )
    user = User(
        username=username,
        display_name=display_name,
        region=region,
        region_path=region.region_path,
        institution=institution,
        phone=phone,
        email=email,
        expires_at=expires_at,
        must_change_password=must_change_password,
    )
    if password is None:
        # A person on record (e.g. a commissioner) who cannot sign in until an administrator sets a password.
        user.set_unusable_password()
        user.save()
    else:
        _validate_password(password, user)
        user.set_password(password)
        user.password_changed_at = timezone.now()
        user.save()
        PasswordHistory.objects.create(user=user, password=user.password)
    record(
        "user.create", user=actor, request=request, obj=user, changes=diff({}, snapshot(user, PROFILE_FIELDS))
    )
    return user


@transaction.atomic
def create_account(
    actor: User | None, *, username: str, display_name: str, password: str, region: Region, role: str
) -> User:
    """An account with one role and its home region as scope, created whole or not at all."""
    user = create_user(actor, username=username, display_name=display_name, password=password, region=region)
    grant_role(actor, user, role)
    add_scope(actor, user, region=region)
    return user


@transaction.atomic
def update_user(actor: User, target: User, *, request: Any = None, **fields: Any) -> User:
    _require(actor, "accounts.change_user")
    own = actor.pk == target.pk
    if not own:
        require_manageable(actor, target)
    target = User.objects.for_user(actor, "change").select_for_update().filter(pk=target.pk).first()
    if target is None:
        raise OutOfScope(_("User not found."))
    before = snapshot(target, PROFILE_FIELDS)
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise DomainError(_("Field %(name)s cannot be changed here.") % {"name": name}, field=name)
        if own and name not in SELF_EDITABLE_FIELDS and getattr(target, name) != value:
            # Account controls (expiry, home region, institution) are set by someone else, never oneself.
            raise NotPermitted(
                _("You cannot change %(name)s of your own account.")
                % {"name": getattr(User._meta.get_field(name), "verbose_name", name)},
                code="account_control",
                field=name,
            )
        setattr(target, name, value)
    _check_place(actor, target.region, target.institution)
    target.region_path = target.region.region_path
    target.save()
    changes = diff(before, snapshot(target, PROFILE_FIELDS))
    record("user.update", user=actor, request=request, obj=target, changes=changes)
    return target


@transaction.atomic
def set_active(actor: User, target: User, active: bool, *, reason: str = "", request: Any = None) -> User:
    _require(actor, "accounts.change_user")
    if actor.pk == target.pk and not active:
        raise DomainError(_("You cannot disable your own account."))
    require_manageable(actor, target)
    if not User.objects.for_user(actor, "change").filter(pk=target.pk).exists():
        raise OutOfScope(_("User not found."))
    User.objects.filter(pk=target.pk).update(is_active=active, disabled_reason="" if active else reason[:100])
    if not active:
        _end_tokens(target, actor=actor, request=request, reason="disabled")
    record(
        "user.enable" if active else "user.disable",
        user=actor,
        request=request,
        obj=target,
        changes={"is_active": [target.is_active, active]},
        detail=reason,
    )
    target.refresh_from_db()
    return target


def grant_role(actor: User | None, target: User, role: str, *, request: Any = None) -> RoleGrant:
    require_manageable(actor, target)
    # The denial is audited outside the write transaction, so that it is kept.
    if not can_grant_role(actor, role):
        record("role.grant", user=actor, request=request, obj=target, result="denied", detail=role)
        raise NotPermitted(_("You cannot grant the role %(role)s.") % {"role": ROLE_LABELS.get(role, role)})
    with transaction.atomic():
        return _grant_role(actor, target, role, request=request)


def _grant_role(actor: User | None, target: User, role: str, *, request: Any = None) -> RoleGrant:
    held = set(target.role_grants.values_list("role", flat=True))
    if role in held:
        raise DomainError(_("The user already holds this role."), code="duplicate")
    if role in ADMIN_ROLES and held & (ADMIN_ROLES - {role}):
        raise DomainError(
            _(
                "System, security and audit administrator are separate duties: one account cannot hold two of them."
            ),
            code="separation_of_duties",
        )
    grant = RoleGrant.objects.create(user=target, role=role, granted_by=actor)
    target.__dict__.pop("_role_codes", None)
    record(
        "role.grant",
        user=actor,
        request=request,
        obj=target,
        changes={"roles": [sorted(held), sorted(held | {role})]},
    )
    return grant


@transaction.atomic
def revoke_role(actor: User, target: User, role: str, *, request: Any = None) -> None:
    require_manageable(actor, target)
    if not can_grant_role(actor, role):
        raise NotPermitted(_("You cannot revoke the role %(role)s.") % {"role": ROLE_LABELS.get(role, role)})
    # Scope that 包保 manages must end where it began, or the person would keep seeing those places.
    if role == CADRE and target.scopes.filter(source=UserScope.Source.DUTY).exists():
        raise DomainError(_("The person is still a responsible cadre; reassign their institutions first."))
    if role == SUPERVISION_MEMBER and target.scopes.filter(source=UserScope.Source.GROUP).exists():
        raise DomainError(_("The person still belongs to a supervision group; remove them from it first."))
    deleted, _n = RoleGrant.objects.filter(user=target, role=role).delete()
    if not deleted:
        raise DomainError(_("The user does not hold this role."))
    record("role.revoke", user=actor, request=request, obj=target, detail=role)


def add_scope(
    actor: User | None,
    target: User,
    *,
    region: Region | None = None,
    institution: Institution | None = None,
    kinds: Iterable[str] = (),
    request: Any = None,
) -> UserScope:
    """Give `target` a scope entry; the actor must hold that whole scope itself (None = system)."""
    if actor is not None and not actor.has_perm("accounts.grant_role"):
        raise NotPermitted(_("You do not have permission to do this."))
    if (region is None) == (institution is None):
        raise DomainError(_("Choose either a region or an institution."), field="region")
    kinds = sorted(set(kinds))
    unknown = set(kinds) - set(Institution.Kind.values)
    if unknown:
        raise DomainError(
            _("Unknown institution kind: %(kinds)s") % {"kinds": ", ".join(sorted(unknown))}, field="kinds"
        )
    require_manageable(actor, target)
    if actor is None:
        allowed = True
    elif region is not None:
        allowed = region_within_scope(actor, region.region_path) or (
            bool(kinds) and all(in_scope(actor, region.region_path, kind=k) for k in kinds)
        )
    else:
        assert institution is not None
        allowed = in_scope(
            actor, institution.region_path, kind=institution.kind, institution_id=institution.pk
        )
    if not allowed:
        # Audited outside the write transaction, so that the denial is kept.
        record(
            "scope.grant",
            user=actor,
            request=request,
            obj=target,
            result="denied",
            detail=str(region or institution),
        )
        raise NotPermitted(_("You can only grant scope that lies inside your own."))
    with transaction.atomic():
        entry = UserScope.objects.create(
            user=target, region=region, institution=institution, kinds=kinds, granted_by=actor
        )
        forget(target)
        record(
            "scope.grant",
            user=actor,
            request=request,
            obj=target,
            detail=f"{region or institution} {','.join(kinds)}".strip(),
        )
    return entry


@transaction.atomic
def remove_scope(actor: User, entry: UserScope, *, request: Any = None) -> None:
    if not actor.has_perm("accounts.grant_role"):
        raise NotPermitted(_("You do not have permission to do this."))
    require_manageable(actor, entry.user)
    place = entry.region.region_path if entry.region_id else entry.institution.region_path  # type: ignore[union-attr]
    if not region_within_scope(actor, place) and not in_scope(
        actor, place, institution_id=entry.institution_id
    ):
        raise NotPermitted(_("You can only remove scope that lies inside your own."))
    if entry.source in {UserScope.Source.DUTY, UserScope.Source.GROUP}:
        raise DomainError(
            _("This entry follows a duty assignment or a supervision group; change it there."), code="managed"
        )
    entry.delete()
    record(
        "scope.revoke",
        user=actor,
        request=request,
        obj=entry.user,
        detail=str(entry.region or entry.institution),
    )
