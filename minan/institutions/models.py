"""The institution registry."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel


def new_public_token() -> str:
    """A random, unguessable token for the institution's public code (一院一码); never the id."""
    return secrets.token_urlsafe(16)


class Subtype(models.Model):
    """CONFIGURABLE list of subtypes per kind; administrators edit it."""

    kind = models.CharField(_("kind"), max_length=20)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50)
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "order", "code"]
        verbose_name = _("subtype")

    def __str__(self) -> str:
        return self.name


class Ownership(models.Model):
    """CONFIGURABLE list of ownership / operation models (办理性质)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50)
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("ownership model")

    def __str__(self) -> str:
        return self.name


class RiskClass(models.Model):
    """One class of the CONFIGURABLE classification scheme.

    Classes are tried in `order`; the first whose rules match wins; the default class (exactly one)
    applies when none does.
    """

    code = models.CharField(_("code"), max_length=10, unique=True)
    label = models.CharField(_("label"), max_length=30)
    colour = models.CharField(_("colour"), max_length=7, help_text=_("#RRGGBB"))
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    min_inspections_per_year = models.PositiveSmallIntegerField(
        _("minimum on-site inspections per year"), default=1, validators=[MinValueValidator(1)]
    )
    always_sample = models.BooleanField(_("always included in random checks"), default=False)
    sample_weight = models.DecimalField(_("random-check weight"), max_digits=5, decimal_places=2, default=1)
    is_default = models.BooleanField(_("default class"), default=False)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("risk class")
        verbose_name_plural = _("risk classes")

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class ClassRule(models.Model):
    """A condition that puts an institution into its class; a class matches if any rule matches."""

    class Condition(models.TextChoices):
        OPEN_MAJOR_HAZARDS = "open_major_hazards", _("open major hazards ≥ N")
        OVERDUE_GENERAL_HAZARDS = "overdue_general_hazards", _("overdue general hazards ≥ N")
        INCIDENTS_12M = "incidents_12m", _("incidents in the last 12 months ≥ N")
        COMPLAINTS_90D = "complaints_90d", _("substantiated complaints in the last 90 days ≥ N")
        ALARMS_90D = "alarms_90d", _("fire alarms in the last 90 days ≥ N")
        NOT_FIRE_STANDARDISED = "not_fire_standardised", _("not fire-safety standardised")
        STAR_GRADE_BELOW = "star_grade_below", _("star grade below N (0 = ungraded)")
        BEDS_AT_LEAST = "beds_at_least", _("beds ≥ N")
        BUILDING_AGE_AT_LEAST = "building_age_at_least", _("building age ≥ N years")
        NO_VALID_INSURANCE = "no_valid_insurance", _("no valid liability insurance")

    risk_class = models.ForeignKey(RiskClass, on_delete=models.CASCADE, related_name="rules")
    condition = models.CharField(_("condition"), max_length=40, choices=Condition.choices)
    threshold = models.PositiveIntegerField(_("N"), null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["risk_class__order", "order", "id"]
        verbose_name = _("classification rule")

    def __str__(self) -> str:
        return f"{self.risk_class.code}: {self.condition} {self.threshold or ''}".strip()


class Institution(ScopedModel):
    """A civil-affairs service institution."""

    class Kind(models.TextChoices):
        ELDERLY_CARE = "elderly_care", _("Elderly care")
        CHILD_WELFARE = "child_welfare", _("Child welfare")
        FUNERAL = "funeral", _("Funeral service")

    class Status(models.TextChoices):
        OPERATING = "operating", _("Operating")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    class Filing(models.TextChoices):
        FILED = "filed", _("Filed")
        NOT_FILED = "not_filed", _("Not filed")
        NOT_REQUIRED = "not_required", _("Not required")

    class FireAcceptance(models.TextChoices):
        ACCEPTED = "accepted", _("Fire acceptance passed")
        FILED = "filed", _("Fire filing done")
        NONE = "none", _("Neither")
        UNKNOWN = "unknown", _("Unknown")

    class Structure(models.TextChoices):
        REINFORCED_CONCRETE = "reinforced_concrete", _("Reinforced concrete")
        BRICK_CONCRETE = "brick_concrete", _("Brick and concrete")
        STEEL = "steel", _("Steel")
        BRICK_WOOD = "brick_wood", _("Brick and wood")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    subtype = models.ForeignKey(
        Subtype, verbose_name=_("subtype"), null=True, blank=True, on_delete=models.PROTECT
    )
    ownership = models.ForeignKey(
        Ownership, verbose_name=_("ownership model"), null=True, blank=True, on_delete=models.PROTECT
    )
    region = models.ForeignKey("regions.Region", verbose_name=_("region"), on_delete=models.PROTECT)
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    legal_representative = models.CharField(_("legal representative"), max_length=50, blank=True)
    beds = models.PositiveIntegerField(_("beds"), default=0, validators=[MaxValueValidator(20000)])
    residents = models.PositiveIntegerField(_("residents"), default=0, validators=[MaxValueValidator(20000)])
    staff_count = models.PositiveIntegerField(_("staff"), default=0, validators=[MaxValueValidator(10000)])
    opened_on = models.DateField(_("opening date"), null=True, blank=True)
    filing_status = models.CharField(
        _("filing status (养老机构备案)"), max_length=15, choices=Filing.choices, default=Filing.NOT_REQUIRED
    )
    fire_acceptance = models.CharField(
        _("fire-safety acceptance or filing"),
        max_length=10,
        choices=FireAcceptance.choices,
        default=FireAcceptance.UNKNOWN,
    )
    building_floors = models.PositiveSmallIntegerField(
        _("floors"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    building_structure = models.CharField(
        _("structure"), max_length=20, choices=Structure.choices, blank=True
    )
    construction_year = models.PositiveSmallIntegerField(
        _("construction year"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
    )
    star_grade = models.PositiveSmallIntegerField(
        _("star grade (GB/T 37276)"),
        default=0,
        validators=[MaxValueValidator(5)],
        help_text=_("0 = ungraded"),
    )
    star_grade_date = models.DateField(_("grade date"), null=True, blank=True)
    fire_standardised = models.BooleanField(_("fire-safety standardised (消防安全标准化)"), default=False)
    fire_standardised_date = models.DateField(_("standardisation date"), null=True, blank=True)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPERATING)

    # Classification: the derived class, and an override that wins while it is set.
    risk_class = models.ForeignKey(
        RiskClass,
        verbose_name=_("risk class"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    risk_class_reason = models.CharField(_("why this class"), max_length=200, blank=True)
    class_override = models.ForeignKey(
        RiskClass,
        verbose_name=_("class set by hand"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    class_override_reason = models.CharField(_("reason for the manual class"), max_length=200, blank=True)

    # 一院一码: the public code. Rotating replaces the token (old codes stop working); revoking turns it off.
    public_token = models.CharField(max_length=32, unique=True, default=new_public_token, editable=False)
    public_code_active = models.BooleanField(_("public code active"), default=True)
    public_token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_kind_field = "kind"
    scope_institution_field = "id"

    class Meta:
        ordering = ["region_path", "name"]
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        permissions = [
            ("export_institution", "Can export institutions"),
            ("import_institution", "Can import institutions"),
        ]
        indexes = [
            models.Index(fields=["kind", "region_path"]),
            models.Index(fields=["status", "region_path"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_class(self) -> RiskClass | None:
        return self.class_override or self.risk_class


class InstitutionChange(models.Model):
    """History of an institution's facts: who changed what, when (append-only)."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=40)
    changes = models.JSONField(default=dict)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.institution_id} {self.action} {self.at:%Y-%m-%d}"


class Commissioner(ScopedModel):
    """四专员: one user per role per institution."""

    class Role(models.TextChoices):
        SERVICE_QUALITY = "service_quality", _("Service-quality commissioner")
        SAFETY = "safety", _("Safety commissioner")
        LIAISON = "liaison", _("Liaison commissioner")
        PUBLIC_OVERSIGHT = "public_oversight", _("Public-oversight commissioner")

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="commissioners")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateField(_("since"), null=True, blank=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["institution", "role"], name="one_commissioner_per_role")
        ]
        ordering = ["institution", "role"]
        verbose_name = _("commissioner")

    def __str__(self) -> str:
        return f"{self.institution_id} {self.role}"


class InsurancePolicy(ScopedModel):
    """综合责任保险 policy of an institution."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="policies")
    insurer = models.CharField(_("insurer"), max_length=100)
    number = models.CharField(_("policy number"), max_length=60)
    coverage = models.DecimalField(
        _("coverage (yuan)"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)]
    )
    starts_on = models.DateField(_("start"))
    ends_on = models.DateField(_("end"))
    created_at = models.DateTimeField(auto_now_add=True)
    # When the institution and its cadre were told the policy had expired (once per policy).
    expiry_reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-ends_on"]
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        constraints = [models.UniqueConstraint(fields=["insurer", "number"], name="unique_policy_number")]
        indexes = [models.Index(fields=["ends_on"])]

    def __str__(self) -> str:
        return f"{self.insurer} {self.number}"


class ScanDaily(models.Model):
    """How often an institution's public code (`/p/<token>/`) was opened on one day (Beijing time).

    Only scans of a valid code count. A scan is not written here as it happens: it increments a
    counter in the cache, and `minan.public.scans.flush` (the worker, every few minutes) folds the
    counters into these rows."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="scan_days")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["institution", "day"], name="unique_scan_day")]

    def __str__(self) -> str:
        return f"{self.institution_id} {self.day} {self.count}"


class ScanFlush(models.Model):
    """One row: the last closed time bucket whose scan counters are folded into ScanDaily. Moving it
    forward and adding the counts happen in one transaction, so a bucket is folded exactly once even
    with several workers."""

    through = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.through)
