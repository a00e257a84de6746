"""包保: one responsible cadre per institution."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel


class DutyAssignment(ScopedModel):
    """A cadre responsible for an institution from `starts_on` until `ends_on` (open while active).

    At most one active assignment per institution (partial unique index); reassigning ends the old one
    and opens the new one in one transaction. Rows are never deleted: they are the history.
    """

    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name=_("institution"),
        on_delete=models.PROTECT,
        related_name="duty_assignments",
    )
    cadre = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible cadre"),
        on_delete=models.PROTECT,
        related_name="duty_assignments",
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True)
    active = models.BooleanField(default=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.CharField(_("why it ended"), max_length=200, blank=True)
    # Rollup kept by `record_visit`: the cadre's latest visit to the institution during this assignment.
    # The overdue list and the dashboard read it instead of scanning the visits.
    last_visit_on = models.DateField(_("last duty visit"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("duty assignment")
        permissions = [("export_dutyassignment", "Can export the duty ledger")]
        constraints = [
            models.UniqueConstraint(
                fields=["institution"], condition=Q(active=True), name="one_active_cadre_per_institution"
            )
        ]
        indexes = [models.Index(fields=["cadre", "active"])]

    def __str__(self) -> str:
        return f"{self.institution_id} ← {self.cadre_id}"


class SupervisionGroup(ScopedModel):
    """帮包督导组: a leader (a county-level official) and members who supervise the counties they cover.

    `region_path` is the place the group belongs to (the city); the counties it covers are `GroupCounty`
    rows, and a county is covered by one group at a time (unique county). Members' scope follows the
    counties: the service keeps the people's `UserScope` entries of source "group" in step.
    """

    name = models.CharField(_("name"), max_length=100)
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.PROTECT, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="supervision_groups"
    )
    counties = models.ManyToManyField(
        "regions.Region", verbose_name=_("counties covered"), through="GroupCounty", related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("supervision group")
        constraints = [
            models.UniqueConstraint(fields=["region_path", "name"], name="unique_group_name_per_place")
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_also(cls, entries: Any) -> Q | None:
        """A group is also visible to whoever sees one of its counties: the county's officers, and the
        group's own leader and members (their scope is the counties)."""
        county_q: Q | None = None
        for entry in entries:
            if entry.institution_id is None and entry.region_path:
                q = Q(county__region_path__startswith=entry.region_path)
                county_q = q if county_q is None else county_q | q
        if county_q is None:
            return None
        return Q(Exists(GroupCounty.objects.filter(county_q, group=OuterRef("pk"))))


class GroupCounty(models.Model):
    """A county covered by a supervision group; one group per county at a time."""

    group = models.ForeignKey(SupervisionGroup, on_delete=models.CASCADE, related_name="county_links")
    county = models.OneToOneField("regions.Region", on_delete=models.PROTECT, related_name="supervision")
    since = models.DateField(_("since"))

    class Meta:
        verbose_name = _("county covered")

    def __str__(self) -> str:
        return f"{self.group_id}:{self.county_id}"


class Recurrence(models.TextChoices):
    NONE = "", _("none")
    DAILY = "daily", _("every day")
    WEEKLY = "weekly", _("every week")
    MONTHLY = "monthly", _("every month")
    QUARTERLY = "quarterly", _("every quarter")
    HALF_YEARLY = "half_yearly", _("every half year")
    YEARLY = "yearly", _("every year")


class DutyPost(models.Model):
    """A post (岗位) and its written duty list. CONFIGURABLE reference data.

    A person holds a post through one of their roles (`role`) or by being named a holder; their duty
    list is the union of the lists of every post they hold.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60)
    role = models.CharField(_("held by everyone with the role"), max_length=40, blank=True)
    holders = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("holders"), blank=True, related_name="duty_posts"
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("post")

    def __str__(self) -> str:
        return self.name


class DutyItem(models.Model):
    """One numbered duty of a post, optionally a recurring task.

    `task = duty_visit` on the responsible cadre's post is the 包保督查 rule: its recurrence says how
    often each assigned institution must be visited (DOMAIN default: at least once a month).
    """

    class Task(models.TextChoices):
        NONE = "", _("no task")
        DUTY_VISIT = "duty_visit", _("visit each assigned institution")

    post = models.ForeignKey(DutyPost, on_delete=models.CASCADE, related_name="items")
    number = models.PositiveSmallIntegerField(_("number"))
    text = models.CharField(_("duty"), max_length=300)
    recurrence = models.CharField(_("recurs"), max_length=12, choices=Recurrence.choices, blank=True)
    task = models.CharField(_("linked task"), max_length=20, choices=Task.choices, blank=True)

    class Meta:
        ordering = ["post", "number"]
        verbose_name = _("duty")
        constraints = [models.UniqueConstraint(fields=["post", "number"], name="unique_duty_number")]

    def __str__(self) -> str:
        return f"{self.number}. {self.text}"


class DutyVisit(ScopedModel):
    """包保督查: a cadre's visit to an institution they are responsible for."""

    institution = models.ForeignKey(
        "institutions.Institution", verbose_name=_("institution"), on_delete=models.PROTECT,
        related_name="duty_visits",
    )  # fmt: skip
    cadre = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cadre"),
        on_delete=models.PROTECT,
        related_name="duty_visits",
    )
    visited_on = models.DateField(_("visited on"))
    checked = models.TextField(_("what was checked"), max_length=2000)
    findings = models.TextField(_("findings"), max_length=4000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-visited_on", "-id"]
        verbose_name = _("duty visit")
        indexes = [models.Index(fields=["institution", "visited_on"])]

    def __str__(self) -> str:
        return f"{self.institution_id}@{self.visited_on}"


class DutyVisitPhoto(models.Model):
    visit = models.ForeignKey(DutyVisit, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="duty/visits/%Y/%m/")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("photo")

    def __str__(self) -> str:
        return self.image.name or ""
