from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CalendarYear(models.Model):
    """A year whose holiday arrangement an administrator has entered (years the package lacks).

    For such a year, Monday–Friday are working days and Saturday–Sunday rest days, except for the
    year's override entries (holidays and 调休 working days).
    """

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    source = models.CharField(
        _("source notice"), max_length=200, help_text=_("e.g. the State Council notice number")
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("calendar year")

    def __str__(self) -> str:
        return str(self.year)


class CalendarOverride(models.Model):
    """One date declared a rest day or a working day; wins over the package data."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    name = models.CharField(_("holiday name"), max_length=50, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar override")

    def __str__(self) -> str:
        return f"{self.date} {'work' if self.is_workday else 'rest'}"
