"""包保: one responsible cadre per institution (DESIGN.md §1, issue 4)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
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
    created_at = models.DateTimeField(auto_now_add=True)

    scope_kind_field = "institution__kind"
    scope_institution_field = "institution_id"

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("duty assignment")
        constraints = [
            models.UniqueConstraint(
                fields=["institution"], condition=Q(active=True), name="one_active_cadre_per_institution"
            )
        ]
        indexes = [models.Index(fields=["cadre", "active"])]

    def __str__(self) -> str:
        return f"{self.institution_id} ← {self.cadre_id}"
