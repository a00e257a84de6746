"""Inspections: versioned checklists, the expert roster, plans with a
cadence that generate tasks, and the inspections themselves with their answers and photos.

Checklists and the roster are deployment-wide reference data (not scoped, like the criteria
catalogue). Plans, tasks and inspections belong to a place and are read through `for_user`.
Only the sub-packages' services (checklists, experts, plans, execution) write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.core.scoping import ScopedModel
from minan.hazards.models import Category


class Kind(models.TextChoices):
    """五方联查 plus the institution's own self-inspection."""

    DUTY = "duty", _("Duty check (包保督查)")
    SECTOR = "sector", _("Sector inspection (行业检查)")
    EXPERT = "expert", _("Expert survey (专家勘察)")
    CROSS = "cross", _("Cross inspection (交叉互查)")
    VIDEO = "video", _("Video patrol (视频巡查)")
    SELF = "self", _("Self-inspection (机构自查)")


# The hazard source a failed item of each kind reports (hazards.models.Source).
HAZARD_SOURCE = {
    Kind.DUTY: "duty_visit",
    Kind.SECTOR: "inspection",
    Kind.EXPERT: "expert",
    Kind.CROSS: "cross",
    Kind.VIDEO: "video",
    Kind.SELF: "self",
}


class ChecklistTemplate(models.Model):
    """One version of a checklist. A family shares `code`; a draft is edited, publishing freezes it
    (and retires the family's previous published version). Inspections keep the version they began
    with, so publishing never changes an inspection already started."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Superseded")

    class Cadence(models.TextChoices):
        NONE = "", _("as needed")
        DAILY = "daily", _("daily")
        WEEKLY = "weekly", _("weekly")
        MONTHLY = "monthly", _("monthly")
        QUARTERLY = "quarterly", _("quarterly")
        HALF_YEARLY = "half_yearly", _("half-yearly")
        YEARLY = "yearly", _("yearly")
        TWO_HOURLY = "two_hourly", _("every 2 hours")

    code = models.SlugField(_("code"), max_length=40)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    # Which inspection kinds and institution kinds it is meant for; empty = any.
    kinds = models.JSONField(_("inspection kinds"), default=list, blank=True)
    institution_kinds = models.JSONField(_("institution kinds"), default=list, blank=True)
    cadence = models.CharField(_("usual cadence"), max_length=12, choices=Cadence.choices, blank=True)
    basis = models.CharField(_("basis (standards)"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        ordering = ["code", "-version"]
        verbose_name = _("checklist")
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="one_checklist_version"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(status="published"), name="one_published_checklist_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class ChecklistSection(models.Model):
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="sections")
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(_("section"), max_length=200)

    class Meta:
        ordering = ["template", "order", "id"]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(models.Model):
    class AnswerType(models.TextChoices):
        PASS_FAIL = "pass_fail", _("pass / fail / not applicable")
        NUMBER = "number", _("number with a range")
        TEXT = "text", _("text")
        CHOICE = "choice", _("choice")
        PHOTO = "photo", _("photo")

    class Severity(models.TextChoices):
        LOW = "low", pgettext_lazy("severity", "low")
        MEDIUM = "medium", pgettext_lazy("severity", "medium")
        HIGH = "high", pgettext_lazy("severity", "high")

    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    section = models.ForeignKey(ChecklistSection, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.CharField(_("item code"), max_length=20)  # stable across versions, e.g. "D01"
    question = models.TextField(_("question"), max_length=1000)
    answer_type = models.CharField(
        _("answer type"), max_length=10, choices=AnswerType.choices, default=AnswerType.PASS_FAIL
    )
    choices = models.JSONField(_("choices"), default=list, blank=True)  # for "choice"
    failing_choices = models.JSONField(_("choices that fail"), default=list, blank=True)
    min_value = models.DecimalField(_("lowest passing value"), max_digits=12, decimal_places=3, null=True,
                                    blank=True)  # fmt: skip
    max_value = models.DecimalField(_("highest passing value"), max_digits=12, decimal_places=3, null=True,
                                    blank=True)  # fmt: skip
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    photo_on_fail = models.BooleanField(_("photo required on failure"), default=False)
    note_on_fail = models.BooleanField(_("note required on failure"), default=True)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.MEDIUM
    )
    points = models.PositiveSmallIntegerField(_("points"), default=1)
    major_on_fail = models.BooleanField(_("a failure is a major hazard"), default=False)
    clause = models.ForeignKey(
        "hazards.Clause", verbose_name=_("criteria clause"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    basis = models.CharField(_("basis"), max_length=200, blank=True)  # e.g. "GB/T 40248-2021 §7.3"
    hazard_category = models.CharField(
        _("hazard category of a failure"), max_length=20, choices=Category.choices, default=Category.FIRE
    )

    class Meta:
        ordering = ["template", "section__order", "order", "id"]
        verbose_name = _("checklist item")
        constraints = [models.UniqueConstraint(fields=["template", "code"], name="one_item_code_per_version")]

    def __str__(self) -> str:
        return f"{self.code} {self.question[:30]}"


class Expert(models.Model):
    """The expert roster (专家库): who may perform an expert survey, in which fields, with which
    qualification, until when."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.PROTECT, related_name="expert"
    )
    organisation = models.CharField(_("organisation"), max_length=200, blank=True)
    fields = models.JSONField(_("fields"), default=list, blank=True)  # hazard categories
    qualification = models.CharField(_("qualification"), max_length=200)
    certificate_no = models.CharField(_("certificate number"), max_length=60, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["user__display_name"]
        verbose_name = _("expert")

    def __str__(self) -> str:
        return str(self.user)


class InspectionPlan(ScopedModel):
    """A recurring plan: one template family, one kind, the institutions it covers and a cadence.
    It belongs to the place of its author; the generator makes one task per institution and period."""

    class Cadence(models.TextChoices):
        DAILY = "daily", _("daily")
        WEEKLY = "weekly", _("weekly")
        MONTHLY = "monthly", _("monthly")
        QUARTERLY = "quarterly", _("quarterly")
        YEARLY = "yearly", _("yearly")
        BY_CLASS = "class", _("by risk class (minimum frequency)")

    name = models.CharField(_("name"), max_length=200)
    template_code = models.SlugField(_("checklist"), max_length=40)  # newest published version at the time
    kind = models.CharField(_("inspection kind"), max_length=10, choices=Kind.choices)
    cadence = models.CharField(_("cadence"), max_length=10, choices=Cadence.choices)
    # Which institutions: inside `region` (default: the plan's own place), of these kinds and risk
    # classes (empty = all), or exactly the listed ones.
    region = models.ForeignKey("regions.Region", verbose_name=_("region"), on_delete=models.PROTECT,
                               related_name="+")  # fmt: skip
    institution_kinds = models.JSONField(_("institution kinds"), default=list, blank=True)
    risk_classes = models.JSONField(_("risk classes"), default=list, blank=True)
    institutions = models.ManyToManyField("institutions.Institution", verbose_name=_("institutions"), blank=True,
                                          related_name="+")  # fmt: skip
    # Tasks are due this many working days after their period starts; empty = the period's last working day.
    due_working_days = models.PositiveSmallIntegerField(_("due after working days"), null=True, blank=True)
    auto_assign = models.BooleanField(_("assign tasks automatically"), default=True)
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("inspection plan")

    def __str__(self) -> str:
        return self.name


class InspectionTask(ScopedModel):
    """One institution to inspect in one period of a plan. Unique per (plan, institution, period), so
    the generator can run any number of times."""

    class Status(models.TextChoices):
        OPEN = "open", _("to do")
        DONE = "done", _("done")
        MISSED = "missed", _("missed")
        CANCELLED = "cancelled", pgettext_lazy("task", "cancelled")

    plan = models.ForeignKey(InspectionPlan, on_delete=models.PROTECT, related_name="tasks")
    institution = models.ForeignKey("institutions.Institution", verbose_name=_("institution"),
                                    on_delete=models.PROTECT, related_name="inspection_tasks")  # fmt: skip
    kind = models.CharField(_("inspection kind"), max_length=10, choices=Kind.choices)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period until"))
    due_on = models.DateField(_("due on"))
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assigned to"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")  # fmt: skip
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    # Reminders sent for a missed task (claimed with a conditional UPDATE like hazards' escalation).
    escalation_step = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("inspection task")
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "institution", "period_start"], name="one_task_per_period"
            )
        ]
        indexes = [models.Index(fields=["status", "due_on"]), models.Index(fields=["assignee", "due_on"])]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.institution_id}:{self.period_start}"


class Inspection(ScopedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("in progress")
        SUBMITTED = "submitted", _("submitted")
        CANCELLED = "cancelled", pgettext_lazy("inspection", "cancelled")

    class Result(models.TextChoices):
        PASS = "pass", _("pass")
        FINDINGS = "findings", _("pass with findings")
        FAIL = "fail", _("fail")

    institution = models.ForeignKey("institutions.Institution", verbose_name=_("institution"),
                                    on_delete=models.PROTECT, related_name="inspections")  # fmt: skip
    kind = models.CharField(_("inspection kind"), max_length=10, choices=Kind.choices)
    template = models.ForeignKey(ChecklistTemplate, verbose_name=_("checklist"), on_delete=models.PROTECT,
                                 related_name="inspections")  # fmt: skip
    task = models.OneToOneField(InspectionTask, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="inspection")  # fmt: skip
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("inspector"), on_delete=models.PROTECT,
                             related_name="+")  # fmt: skip
    team = models.CharField(_("other team members"), max_length=300, blank=True)
    representative = models.CharField(_("institution representative"), max_length=50, blank=True)
    inspector_signature = models.FileField(upload_to="signatures/%Y/%m/", blank=True)
    representative_signature = models.FileField(upload_to="signatures/%Y/%m/", blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    summary = models.TextField(_("summary"), max_length=4000, blank=True)
    score = models.PositiveIntegerField(_("points"), null=True, blank=True)
    max_score = models.PositiveIntegerField(_("of points"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=10, choices=Result.choices, blank=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("inspection")
        permissions = [
            ("export_inspection", "Can export inspections and their figures"),
        ]
        indexes = [models.Index(fields=["institution", "kind", "finished_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Answer(models.Model):
    """The answer to one item, saved as soon as it is given (a dropped connection loses nothing)."""

    class Outcome(models.TextChoices):
        PASS = "pass", _("pass")
        FAIL = "fail", _("fail")
        NA = "na", _("not applicable")

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(_("outcome"), max_length=4, choices=Outcome.choices)
    number = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    text = models.TextField(max_length=2000, blank=True)  # the text or the chosen choice
    note = models.TextField(_("note"), max_length=2000, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(auto_now=True)
    # The hazard a failure created on submission, or the open hazard it was merged into.
    hazard = models.ForeignKey("hazards.Hazard", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")  # fmt: skip
    merged = models.BooleanField(default=False)

    class Meta:
        ordering = ["item__section__order", "item__order", "id"]
        constraints = [models.UniqueConstraint(fields=["inspection", "item"], name="one_answer_per_item")]

    def __str__(self) -> str:
        return f"{self.inspection_id}:{self.item_id}:{self.outcome}"


class AnswerPhoto(models.Model):
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to="inspections/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    taken_at = models.DateTimeField(_("taken at (EXIF)"), null=True, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
