"""Every write to accounts goes through here: transactional, permission-checked, audited."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from minan.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import forget, in_scope, region_within_scope
from minan.institutions.models import Institution
from minan.regions.models import Region

from .models import ApiToken, PasswordHistory, RoleGrant, User, UserScope, token_digest
from .roles import ADMIN_ROLES, CADRE, ROLE_LABELS, SECURITY_ADMIN, SUPERVISION_MEMBER

PROFILE_FIELDS = ("display_name", "phone", "email", "region_id", "institution_id", "expires_at", "is_active")
EDITABLE_FIELDS = frozenset({"display_name", "phone", "email", "region", "institution", "expires_at"})
# What a user may change on their own account; placement and expiry are account controls.
SELF_EDITABLE_FIELDS = frozenset({"display_name", "phone", "email"})


def _require(actor: User, perm: str) -> None:
    if not actor.has_perm(perm):
        raise NotPermitted(_("You do not have permission to do this."))


# --- who may manage whom ----------------------------------------------------------------------------


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


def _check_place(actor: User, region: Region, institution: Institution | None) -> None:
    if institution is not None:
        if institution.region_id != region.pk:
            raise DomainError(_("The institution is not in the chosen region."), field="institution")
        if not in_scope(actor, institution.region_path, kind=institution.kind, institution_id=institution.pk):
            raise OutOfScope(_("The institution is outside your scope."), field="institution")
    elif not in_scope(actor, region.region_path):
        raise OutOfScope(_("The region is outside your scope."), field="region")


def _validate_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), code="weak_password", field="password") from exc


def _store_password(user: User, password: str) -> None:
    user.set_password(password)
    user.password_changed_at = timezone.now()
    PasswordHistory.objects.create(user=user, password=user.password)
    keep = settings.PASSWORD_HISTORY
    old = list(user.password_history.values_list("pk", flat=True)[keep:])
    if old:
        PasswordHistory.objects.filter(pk__in=old).delete()


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


def can_grant_role(actor: User | None, role: str) -> bool:
    """A user grants only roles it holds; the security administrator's job is granting roles.

    `actor` None is the system itself (command line, demo data), which may grant any role."""
    if actor is None:
        return role in ROLE_LABELS
    if not actor.has_perm("accounts.grant_role") or role not in ROLE_LABELS:
        return False
    return role in actor.role_codes or SECURITY_ADMIN in actor.role_codes


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


@transaction.atomic
def change_password(user: User, old_password: str | None, new_password: str, *, request: Any = None) -> None:
    if old_password is not None and not user.check_password(old_password):
        record(
            "password.change",
            user=user,
            request=request,
            obj=user,
            result="failure",
            detail="wrong old password",
        )
        raise DomainError(_("The current password is wrong."), field="old_password")
    _validate_password(new_password, user)
    _store_password(user, new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record("password.change", user=user, request=request, obj=user)


@transaction.atomic
def reset_password(actor: User, target: User, new_password: str, *, request: Any = None) -> None:
    """An administrator sets a temporary password; the user must change it at next login."""
    _require(actor, "accounts.change_user")
    require_manageable(actor, target)
    if not User.objects.for_user(actor, "change").filter(pk=target.pk).exists():
        raise OutOfScope(_("User not found."))
    _validate_password(new_password, target)
    _store_password(target, new_password)
    target.must_change_password = True
    target.save(update_fields=["password", "password_changed_at", "must_change_password"])
    record("password.reset", user=actor, request=request, obj=target)
    # Whoever held the old password may have made tokens with it: they end with it.
    _end_tokens(target, actor=actor, request=request, reason="password reset")


# --- second factor -----------------------------------------------------------------------------


def totp_device(user: User, *, confirmed: bool | None = True) -> TOTPDevice | None:
    qs = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        qs = qs.filter(confirmed=confirmed)
    return qs.order_by("-id").first()


@transaction.atomic
def start_totp_enrolment(user: User, *, request: Any = None) -> TOTPDevice:
    """An unconfirmed device whose secret the user adds to an authenticator app."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    record("totp.enrol_start", user=user, request=request, obj=user)
    return device


@transaction.atomic
def confirm_totp(user: User, device: TOTPDevice, code: str, *, request: Any = None) -> list[str]:
    """Confirm enrolment with a first code; replaces older devices and issues recovery codes."""
    if device.user_id != user.pk or device.confirmed:
        raise DomainError(_("This enrolment is not valid any more; start again."))
    if not device.verify_token(code.strip()):
        record("totp.enrol_confirm", user=user, request=request, obj=user, result="failure")
        raise DomainError(_("The code is wrong or expired."), field="code")
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    record("totp.enrol_confirm", user=user, request=request, obj=user)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    static, _created = StaticDevice.objects.get_or_create(
        user=user, name="recovery", defaults={"confirmed": True}
    )
    static.token_set.all().delete()
    codes = [f"{secrets.token_hex(2)}-{secrets.token_hex(2)}" for _i in range(settings.RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    return codes


@transaction.atomic
def regenerate_recovery_codes(user: User, *, request: Any = None) -> list[str]:
    codes = _new_recovery_codes(user)
    record("totp.recovery_codes", user=user, request=request, obj=user)
    return codes


def verify_second_factor(user: User, code: str) -> Any:
    """The device that accepts `code` (TOTP first, then a one-time recovery code), or None."""
    code = code.strip().replace(" ", "")
    device = totp_device(user)
    if device is not None and code.isdigit() and device.verify_token(code):
        return device
    for static in StaticDevice.objects.filter(user=user, confirmed=True):
        if static.verify_token(code.lower()):
            return static
    return None


# --- dormant and expired accounts ----------------------------------------------------------------


@transaction.atomic
def disable_dormant_accounts(now: Any = None) -> int:
    """Disable accounts past their expiry date or unused for ACCOUNT_DORMANT_DAYS. Idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ACCOUNT_DORMANT_DAYS)
    dormant = Q(last_login__lt=cutoff) | Q(last_login__isnull=True, date_joined__lt=cutoff)
    count = 0
    for user in User.objects.filter(is_active=True).filter(Q(expires_at__lte=now) | dormant):
        reason = "expired" if user.is_expired(now) else "dormant"
        # Conditional update: a second sweep running at once disables (and audits) nothing twice.
        if User.objects.filter(pk=user.pk, is_active=True).update(is_active=False, disabled_reason=reason):
            record(
                "user.disable",
                obj=user,
                changes={"is_active": [True, False]},
                detail=reason,
                username="system",
            )
            _end_tokens(user, actor=None, reason=reason)
            count += 1
    return count


def make_unusable_hash() -> str:
    return make_password(None)


@transaction.atomic
def provision_totp(actor: User | None, user: User, key_hex: str, *, request: Any = None) -> TOTPDevice:
    """Install a known TOTP key (demo accounts; an operator provisioning a hardware token)."""
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="provisioned", confirmed=True, key=key_hex)
    record("totp.provision", user=actor, request=request, obj=user)
    return device


def _require_unlock(actor: User | None, target: User) -> None:
    if actor is None:
        return
    _require(actor, "accounts.unlock_user")
    require_manageable(actor, target)


def clear_login_failures(username: str, ip: str) -> None:
    """A successful login clears only this account's failures from this address (AXES_RESET_ON_SUCCESS
    is off), so password spraying across accounts from one address still locks it."""
    AccessAttempt.objects.filter(username=username, ip_address=ip).delete()


@transaction.atomic
def unlock_user(actor: User | None, target: User, *, request: Any = None) -> None:
    """Lift a login lockout of this account (the lock on a client address expires by itself)."""
    _require_unlock(actor, target)
    reset(username=target.username)
    record("user.unlock", user=actor, request=request, obj=target, username="" if actor else "system")


@transaction.atomic
def reset_totp(actor: User | None, target: User, *, request: Any = None) -> None:
    """Remove the user's authenticator and recovery codes; they enrol again at the next login."""
    _require_unlock(actor, target)
    TOTPDevice.objects.filter(user=target).delete()
    StaticDevice.objects.filter(user=target).delete()
    record("totp.reset", user=actor, request=request, obj=target, username="" if actor else "system")


# --- API tokens ----------------------------------------------------------------------------------------


@transaction.atomic
def issue_token(user: User, *, name: str = "", request: Any = None) -> tuple[ApiToken, str]:
    """A new token for the signed-in user; the secret is returned once and only its digest is kept."""
    if not user.is_active or user.is_expired():
        raise NotPermitted(_("This account cannot sign in."), code="account_disabled")
    secret = "mna_" + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:50],
        digest=token_digest(secret),
        prefix=secret[:12],
        created_at=now,
        expires_at=now + timedelta(days=settings.API_TOKEN_DAYS),
    )
    record(
        "token.issue",
        user=user,
        request=request,
        obj=user,
        detail=f"{token.pk} {token.prefix} {token.name}".strip(),
    )
    live = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
    surplus = list(
        live.order_by("-created_at", "-id").values_list("pk", flat=True)[settings.API_TOKEN_MAX_PER_USER :]
    )
    _revoke_many(
        surplus, user, actor=user, reason=f"more than {settings.API_TOKEN_MAX_PER_USER} live", request=request
    )
    return token, secret


def note_token_use(token: ApiToken, now: Any, *, resolution: timedelta) -> None:
    """Keep when a token was last used, written at most once per `resolution` (not on every request)."""
    if token.last_used_at is None or token.last_used_at < now - resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def visible_tokens(actor: User) -> Any:
    """Tokens the actor may list: their own, and with accounts.view_apitoken those of users in scope."""
    own = Q(user=actor)
    if actor.has_perm("accounts.view_apitoken"):
        own |= Q(user__in=User.objects.for_user(actor, "view"))
    return ApiToken.objects.filter(own).select_related("user", "revoked_by")


@transaction.atomic
def revoke_token(actor: User, token: ApiToken, *, request: Any = None) -> ApiToken:
    """The owner revokes their own token; a security administrator one of a user they may manage."""
    if token.user_id != actor.pk:
        if not actor.has_perm("accounts.delete_apitoken"):
            raise OutOfScope(_("Token not found."))
        require_manageable(actor, token.user)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise DomainError(_("The token is already revoked."), code="revoked")
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    record(
        "token.revoke",
        user=actor,
        request=request,
        obj=token.user,
        detail=f"{token.pk} {token.prefix}",
    )
    return token


def _end_tokens(target: User, *, actor: User | None, reason: str, request: Any = None) -> None:
    """No token issued so far works any more (account disabled, password reset by an administrator)."""
    now = timezone.now()
    User.objects.filter(pk=target.pk).update(tokens_not_before=now)
    target.tokens_not_before = now
    live = ApiToken.objects.filter(user=target, revoked_at__isnull=True)
    _revoke_many(list(live.values_list("pk", flat=True)), target, actor=actor, reason=reason, request=request)


def _revoke_many(
    ids: list[int], owner: User, *, actor: User | None, reason: str, request: Any = None
) -> None:
    """Revoke these tokens of one owner at once, with one audit event saying how many and why."""
    if not ids:
        return
    ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_by=actor)
    record(
        "token.revoke",
        user=actor,
        request=request,
        obj=owner,
        detail=f"{len(ids)} token(s): {reason}",
        username="" if actor else "system",
    )


# --- scope that follows another record ---------------------------------------------------------------
# A responsible cadre sees their institutions, a supervision group's people its counties, the assignee of
# a cross inspection the institution: these entries are written by the service of that record, inside its
# transaction and under its audit event, through the three functions below.


def grant_derived_scope(
    user: User, source: str, *, institution: Institution | None = None, granted_by: User | None = None
) -> None:
    """Give `user` one institution because of `source` (idempotent)."""
    UserScope.objects.get_or_create(
        user=user, institution=institution, source=source, defaults={"granted_by": granted_by}
    )
    forget(user)


def revoke_derived_scope(user_id: int, source: str, *, institution_id: int) -> None:
    """Remove the entry `source` gave for one institution (the user's other entries stay)."""
    UserScope.objects.filter(user_id=user_id, institution_id=institution_id, source=source).delete()


def set_derived_regions(user: User, source: str, region_ids: Iterable[int]) -> None:
    """Make the user's region entries from `source` exactly these regions."""
    wanted = set(region_ids)
    existing = {e.region_id: e.pk for e in UserScope.objects.filter(user=user, source=source)}
    UserScope.objects.filter(
        pk__in=[pk for region_id, pk in existing.items() if region_id not in wanted]
    ).delete()
    UserScope.objects.bulk_create(
        UserScope(user=user, region_id=region_id, source=source) for region_id in wanted - set(existing)
    )
    forget(user)
