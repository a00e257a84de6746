import hashlib
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel, ScopedQuerySet

from .roles import ADMIN_ROLES, ROLE_CHOICES


class UserManager(DjangoUserManager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    """Django's user manager plus for_user()."""


class User(AbstractUser, ScopedModel):
    """A person with one or more roles and a scope. Users are disabled, never deleted.

    `region` is where the account belongs (its place in the tree, used to scope the user directory);
    what the user may see is its scope entries (`scopes`).
    """

    display_name = models.CharField(_("full name"), max_length=50)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True)
    region = models.ForeignKey(
        "regions.Region", verbose_name=_("home region"), on_delete=models.PROTECT, related_name="+"
    )
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name=_("institution"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    must_change_password = models.BooleanField(_("must change password"), default=True)
    password_changed_at = models.DateTimeField(_("password changed at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("account expires at"), null=True, blank=True)
    disabled_reason = models.CharField(_("reason disabled"), max_length=100, blank=True)
    # API tokens issued before this moment are dead: set when an administrator resets the password
    # or the account is disabled, so that no token outlives those controls.
    tokens_not_before = models.DateTimeField(null=True, blank=True, editable=False)

    # A kind-narrowed scope sees only accounts attached to institutions of those kinds.
    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    objects = UserManager()  # type: ignore[misc]

    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        ordering = ["region_path", "username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [
            ("export_user", "Can export users"),
            ("grant_role", "Can grant roles and scope"),
            ("unlock_user", "Can unlock accounts"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.username})"

    @property
    def role_codes(self) -> frozenset[str]:
        cached = getattr(self, "_role_codes", None)
        if cached is None:
            cached = frozenset(self.role_grants.values_list("role", flat=True)) if self.pk else frozenset()
            self._role_codes = cached
        return cached

    @property
    def needs_second_factor(self) -> bool:
        return bool(self.role_codes & ADMIN_ROLES)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(_("role"), max_length=30, choices=ROLE_CHOICES)
    granted_by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_role_per_user")]
        verbose_name = _("role grant")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role}"


class UserScope(models.Model):
    """One scope entry: a region subtree or one institution, optionally narrowed to kinds."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="scopes")
    region = models.ForeignKey(
        "regions.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    institution = models.ForeignKey(
        "institutions.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kinds = models.JSONField(_("institution kinds"), default=list, blank=True)

    class Source(models.TextChoices):
        """Where an entry comes from. Only `granted` entries are an administrator's to add and remove; the
        others follow another record and are added and removed by its service."""

        GRANTED = "granted", _("granted by an administrator")
        DUTY = "duty", _("follows a duty assignment")  # the institutions of a responsible cadre
        GROUP = "group", _("follows a supervision group")  # the counties of the groups a person is in
        # The institution of an open task assigned to someone from elsewhere (a cross inspection, an
        # expert survey); removed when the task ends.
        INSPECTION = "inspection", _("follows an inspection task")

    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.GRANTED, editable=False
    )
    granted_by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(region__isnull=False, institution__isnull=True)
                | Q(region__isnull=True, institution__isnull=False),
                name="scope_region_xor_institution",
            )
        ]
        verbose_name = _("scope entry")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.region_id or ''}{self.institution_id or ''}"


class PasswordHistory(models.Model):
    """Hashes of a user's recent passwords, so that they are not reused."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.created_at:%Y-%m-%d}"


def token_digest(secret: str) -> str:
    """What an API token row keeps of its secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token. Only the SHA-256 digest of the secret is stored; the secret is shown once.

    A token works until it expires, is revoked, or its account stops being allowed to sign in
    (see authentication.ApiTokenAuthentication)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=50, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)  # the secret's start, to recognise it
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user_id}:{self.prefix}"

    def is_live(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())
