"""隐患闭环: hazards, their events, files, and the criteria catalogue.

States and moves live in `workflow.py`; only the `services` package changes a hazard, with a conditional
UPDATE on its status and an event row per move.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.core.scoping import ScopedModel


class CriteriaSet(models.Model):
    """A versioned catalogue of criteria (e.g. 养老机构重大事故隐患判定标准 2023). Data, not code: hazards
    keep their clause references when a newer set supersedes this one."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    issuer = models.CharField(_("issuer"), max_length=100, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    effective_on = models.DateField(_("in force from"), null=True, blank=True)
    active = models.BooleanField(_("in force"), default=True)
    local = models.BooleanField(_("local refinement"), default=False)
    makes_major = models.BooleanField(_("a matching hazard is major"), default=True)
    expected_items = models.PositiveSmallIntegerField(_("situations in the official text"), default=0)
    source = models.CharField(_("source"), max_length=300, blank=True)
    superseded_by = models.ForeignKey(
        "self", verbose_name=_("superseded by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="supersedes",
    )  # fmt: skip

    class Meta:
        ordering = ["code"]
        verbose_name = _("criteria set")

    def __str__(self) -> str:
        return self.title


class Clause(models.Model):
    criteria_set = models.ForeignKey(CriteriaSet, on_delete=models.PROTECT, related_name="clauses")
    key = models.CharField(_("clause key"), max_length=40, unique=True)
    group = models.CharField(_("group"), max_length=100, blank=True)
    text = models.TextField(_("text (Chinese)"))
    text_en = models.TextField(_("text (English)"), blank=True)
    complete = models.BooleanField(_("text complete"), default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["criteria_set", "order", "key"]
        verbose_name = _("clause")

    def __str__(self) -> str:
        return f"{self.key} {self.text[:30]}"


class Source(models.TextChoices):
    INSPECTION = "inspection", _("Sector inspection")
    DUTY_VISIT = "duty_visit", _("Duty visit")
    EXPERT = "expert", _("Expert survey")
    CROSS = "cross", _("Cross check")
    VIDEO = "video", _("Video patrol")
    KITCHEN = "kitchen", _("Kitchen patrol")
    ALARM = "alarm", _("Fire alarm or device fault")
    COMPLAINT = "complaint", _("Complaint")
    SELF = "self", _("Self-report by the institution")
    OTHER = "other", _("Other")


class Category(models.TextChoices):
    FIRE = "fire", _("Fire")
    ELECTRICAL = "electrical", _("Electrical")
    GAS = "gas", _("Gas")
    BUILDING = "building", _("Building")
    EQUIPMENT = "equipment", _("Special equipment")
    FOOD = "food", _("Food")
    SERVICE = "service", _("Service safety (九防)")
    SECURITY = "security", pgettext_lazy("hazard category", "Security")
    OTHER = "other", _("Other")


class CategorySetting(models.Model):
    """CONFIGURABLE deadlines per category, in working days (no official default)."""

    category = models.CharField(_("category"), max_length=20, choices=Category.choices, unique=True)
    general_days = models.PositiveSmallIntegerField(_("general hazard: working days"), default=5)
    major_days = models.PositiveSmallIntegerField(_("major hazard: working days"), default=30)

    class Meta:
        ordering = ["category"]
        verbose_name = _("deadline setting")

    def __str__(self) -> str:
        return self.category


class Hazard(ScopedModel):
    class Level(models.TextChoices):
        GENERAL = "general", _("General")
        MAJOR = "major", _("Major")

    class Status(models.TextChoices):
        REPORTED = "reported", _("Reported")
        ASSIGNED = "assigned", _("Rectification notice issued")
        RECTIFYING = "rectifying", _("Being rectified")
        SUBMITTED = "submitted", _("Submitted for acceptance")
        REJECTED = "rejected", _("Acceptance failed")
        ACCEPTED = "accepted", _("Accepted")
        CLOSED = "closed", _("Closed (销号)")
        CANCELLED = "cancelled", _("Cancelled")

    class SupervisingLevel(models.TextChoices):
        COUNTY = "county", _("County bureau")
        CITY = "city", _("City bureau")

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name=_("institution"),
        on_delete=models.PROTECT,
        related_name="hazards",
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    source_ref = models.CharField(_("source record"), max_length=60, blank=True)  # e.g. "duty.dutyvisit:12"
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    description = models.TextField(_("description"), max_length=2000)
    location = models.CharField(_("location in the institution"), max_length=200, blank=True)
    clause = models.ForeignKey(
        Clause,
        verbose_name=_("criteria clause"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    found_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("found by"), on_delete=models.PROTECT, related_name="+"
    )
    found_at = models.DateTimeField(_("found at"))
    on_the_spot = models.BooleanField(_("fixed on the spot (立行立改)"), default=False)
    responsible_person = models.CharField(
        _("responsible person at the institution"), max_length=50, blank=True
    )
    cadre = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("responsible cadre"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REPORTED)
    requirement = models.TextField(_("rectification requirement"), max_length=2000, blank=True)
    assigned_on = models.DateField(_("notice issued on"), null=True, blank=True)
    deadline = models.DateField(_("deadline"), null=True, blank=True)
    # 五落实: a major hazard cannot enter rectification until all five are filled.
    plan_responsible = models.CharField(_("responsibility (person and unit)"), max_length=100, blank=True)
    plan_measures = models.TextField(_("measures"), max_length=2000, blank=True)
    plan_funds = models.CharField(_("funds (amount and source)"), max_length=100, blank=True)
    plan_deadline = models.DateField(_("time limit"), null=True, blank=True)
    plan_contingency = models.TextField(_("contingency plan"), max_length=2000, blank=True)
    # 挂牌督办: every major hazard is listed for supervision by a level and a named official.
    supervising_level = models.CharField(
        _("supervising level"), max_length=10, choices=SupervisingLevel.choices, blank=True
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("supervising official"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    measures_taken = models.TextField(_("rectification done"), max_length=2000, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("accepted by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopened = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    # 暂停计时: while an approved pause runs the deadline clock stands still;
    # when it ends the deadline moves by the working days it lasted, summed in `paused_days`.
    paused_since = models.DateField(_("deadline paused since"), null=True, blank=True)
    paused_days = models.PositiveSmallIntegerField(_("working days paused"), default=0)
    # The last deadline reminder or escalation sent (services.escalation.ESCALATION_STEPS); claimed with a
    # conditional UPDATE so that each step is sent once, however many workers sweep.
    escalation_step = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-found_at", "-id"]
        verbose_name = _("hazard")
        permissions = [
            ("assign_hazard", "Can issue rectification notices"),
            ("rectify_hazard", "Can rectify and submit"),
            ("accept_hazard", "Can accept rectification"),
            ("close_hazard", "Can close (销号)"),
            ("supervise_hazard", "Can supervise, accept and close major hazards"),
            ("cancel_hazard", "Can cancel hazards"),
            ("export_hazard", "Can export the hazard ledger"),
        ]
        indexes = [
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["institution", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(level="major") | ~Q(status="rectifying") | Q(plan_deadline__isnull=False),
                name="major_rectifying_has_plan_deadline",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.description[:30]}"


class HazardEvent(models.Model):
    """Append-only: one row per move (and per plan change), the hazard's timeline."""

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    comment = models.TextField(max_length=2000, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.hazard_id}:{self.action}"


class HazardFile(models.Model):
    """Evidence: photos or documents attached when a hazard is found or a rectification submitted."""

    class Kind(models.TextChoices):
        FOUND = "found", _("when found")
        RECTIFIED = "rectified", _("rectification evidence")

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="files")
    event = models.ForeignKey(HazardEvent, null=True, on_delete=models.SET_NULL, related_name="files")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    file = models.FileField(upload_to="hazards/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.name


class RevisitDraw(ScopedModel):
    """回头看: one reproducible random draw of closed hazards to re-verify.

    Anyone can check it: the candidates (sorted ids) and the seed are stored, and
    `random.Random(seed).sample(general candidates, k)` gives the same general hazards again."""

    period_from = models.DateField(_("closed from"))
    period_to = models.DateField(_("closed until"))
    general_share = models.PositiveSmallIntegerField(_("share of general hazards (%)"))
    seed = models.CharField(_("seed"), max_length=64)
    candidates = models.JSONField(default=list)  # [[id, level], ...] sorted by id
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    drawn_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-drawn_at", "-id"]
        verbose_name = _("revisit draw")

    def __str__(self) -> str:
        return f"{self.period_from}–{self.period_to}"


class Revisit(ScopedModel):
    class Outcome(models.TextChoices):
        PENDING = "pending", _("to check")
        PASSED = "passed", _("still fixed")
        FAILED = "failed", _("recurred: reopened")

    draw = models.ForeignKey(RevisitDraw, on_delete=models.PROTECT, related_name="revisits")
    hazard = models.ForeignKey(Hazard, on_delete=models.PROTECT, related_name="revisits")
    due_on = models.DateField(_("check by"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(_("note"), max_length=2000, blank=True)

    scope_kind_field = "hazard__institution__kind"
    scope_institution_field = "hazard__institution_id"

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("revisit")
        constraints = [models.UniqueConstraint(fields=["hazard", "draw"], name="one_revisit_per_draw")]

    def __str__(self) -> str:
        return f"{self.hazard_id}:{self.outcome}"


class Extension(models.Model):
    """A request to move a hazard's deadline: asked with a reason by the institution, decided by
    whoever may issue notices; an approved one moves the deadline and is kept in the record."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("waiting for a decision")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="extensions")
    days = models.PositiveSmallIntegerField(_("more working days"))
    reason = models.TextField(_("reason"), max_length=1000)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    old_deadline = models.DateField(null=True, blank=True)
    new_deadline = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("deadline extension")
        constraints = [
            models.UniqueConstraint(
                fields=["hazard"], condition=Q(decision="pending"), name="one_pending_extension_per_hazard"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hazard_id}+{self.days}"


class Pause(models.Model):
    """A request to stop the deadline clock (waiting for funds, for another department…): asked with a
    reason, approved by the level `MINAN_HAZARD_PAUSE_APPROVER` names, ended by either side. The working
    days from `started_on` up to the day before `ended_on` do not count against the deadline."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("waiting for a decision")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    hazard = models.ForeignKey(Hazard, on_delete=models.CASCADE, related_name="pauses")
    reason = models.TextField(_("reason"), max_length=1000)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    started_on = models.DateField(_("paused from"), null=True, blank=True)
    ended_on = models.DateField(_("resumed on"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    working_days = models.PositiveSmallIntegerField(_("working days paused"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("deadline pause")
        constraints = [
            models.UniqueConstraint(
                fields=["hazard"],
                condition=Q(decision="pending") | Q(decision="approved", ended_on__isnull=True),
                name="one_open_pause_per_hazard",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hazard_id}:{self.decision}"
