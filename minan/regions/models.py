from django.db import models
from django.utils.translation import gettext_lazy as _

from minan.core.scoping import ScopedModel


class Region(ScopedModel):
    """An administrative division (GB/T 2260), a functional zone, or a township (NBS 统计用区划代码).

    `region_path` is the node's own materialised path: the codes from the root down, each followed by
    a slash. Scoped like every other model: a user sees the subtrees of their scope.
    """

    class Level(models.TextChoices):
        PROVINCE = "province", _("Province")
        CITY = "city", _("Prefecture-level city")
        COUNTY = "county", _("County-level division")
        TOWNSHIP = "township", _("Township / subdistrict")

    LEVEL_DEPTH = {Level.PROVINCE: 0, Level.CITY: 1, Level.COUNTY: 2, Level.TOWNSHIP: 3}

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=64)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    statutory = models.BooleanField(
        _("statutory division"),
        default=True,
        help_text=_("False for functional zones and other units that are not GB/T 2260 divisions."),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["region_path"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        permissions = [("load_region", "Can load a region tree")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        return self.region_path.count("/") - 1
