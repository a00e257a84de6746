from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from minan.core.errors import DomainError


def add_refusal(form: Any, exc: DomainError) -> None:
    """Show a service's refusal on the form: beside its field when the form has one, else above it."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class CalendarYearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    source = forms.CharField(label=_("Source notice"), max_length=200)


class CalendarOverrideForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    is_workday = forms.TypedChoiceField(
        label=_("This day is"),
        choices=[("0", _("a rest day")), ("1", _("a working day (调休)"))],
        coerce=lambda v: v == "1",
    )
    name = forms.CharField(label=_("Holiday name"), max_length=50, required=False)
