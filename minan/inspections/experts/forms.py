"""The form of the expert roster page (add an account to the roster, edit an entry)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy

from minan.accounts.roles import EXPERT
from minan.hazards.models import Category


class ExpertForm(forms.Form):
    user = forms.ModelChoiceField(label=gettext_lazy("account"), queryset=get_user_model().objects.none())
    organisation = forms.CharField(label=gettext_lazy("organisation"), max_length=200, required=False)
    areas = forms.MultipleChoiceField(
        label=gettext_lazy("fields"),
        choices=Category.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    qualification = forms.CharField(label=gettext_lazy("qualification"), max_length=200)
    certificate_no = forms.CharField(label=gettext_lazy("certificate number"), max_length=60, required=False)
    valid_until = forms.DateField(
        label=gettext_lazy("valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    active = forms.BooleanField(label=gettext_lazy("active"), required=False, initial=True)

    def __init__(self, *args: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if creating:
            # Accounts with the expert role not yet on the roster.
            self.fields["user"].queryset = (  # type: ignore[attr-defined]
                get_user_model()
                .objects.filter(is_active=True, role_grants__role=EXPERT, expert__isnull=True)
                .order_by("display_name")
            )
        else:
            del self.fields["user"]
