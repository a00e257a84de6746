from django.db import models
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel


class Institution(ScopedModel):
    """A civil-affairs service institution. The registry issue extends this model."""

    class Kind(models.TextChoices):
        ELDERLY_CARE = "elderly_care", _("Elderly care")
        CHILD_WELFARE = "child_welfare", _("Child welfare")
        FUNERAL = "funeral", _("Funeral service")

    class Status(models.TextChoices):
        OPERATING = "operating", _("Operating")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    region = models.ForeignKey("regions.Region", verbose_name=_("region"), on_delete=models.PROTECT)
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    beds = models.PositiveIntegerField(_("beds"), default=0)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPERATING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_kind_field = "kind"
    scope_institution_field = "id"

    class Meta:
        ordering = ["region_path", "name"]
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        permissions = [("export_institution", "Can export institutions")]
        indexes = [models.Index(fields=["kind", "region_path"])]

    def __str__(self) -> str:
        return self.name
