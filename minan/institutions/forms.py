from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from minan.regions.models import Region

from .models import Commissioner, Institution, Ownership, Subtype

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class InstitutionForm(forms.ModelForm):
    """Validates input shape; the registry service applies the rules (USCC, scope, consistency)."""

    class Meta:
        model = Institution
        fields = [
            "name", "kind", "subtype", "ownership", "region", "uscc", "address", "contact_name", "contact_phone",
            "legal_representative", "beds", "residents", "staff_count", "opened_on", "filing_status",
            "fire_acceptance", "building_floors", "building_structure", "construction_year", "star_grade",
            "star_grade_date", "fire_standardised", "fire_standardised_date", "latitude", "longitude", "status",
        ]  # fmt: skip
        widgets = {
            "opened_on": DATE,
            "star_grade_date": DATE,
            "fire_standardised_date": DATE,
            "star_grade": forms.Select(choices=[(i, "☆" if i == 0 else "★" * i) for i in range(6)]),
        }

    contact_phone = forms.RegexField(
        label=_("contact phone"),
        regex=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$",
        required=False,
        error_messages={"invalid": _("Enter a mobile number or a landline such as 0537-1234567.")},
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices read through the scoping mechanism; only county-level divisions and townships.
        regions = Region.objects.for_user(user).filter(level__in=[Region.Level.COUNTY, Region.Level.TOWNSHIP])
        self.fields["region"].queryset = regions  # type: ignore[attr-defined]
        self.fields["region"].error_messages["invalid_choice"] = _(
            "Choose a county-level division or a township."
        )
        self.fields["subtype"].queryset = Subtype.objects.filter(active=True)  # type: ignore[attr-defined]
        self.fields["ownership"].queryset = Ownership.objects.filter(active=True)  # type: ignore[attr-defined]
        self.fields["uscc"].widget.attrs.update({"maxlength": 18, "style": "text-transform: uppercase"})

    def clean_uscc(self) -> str | None:
        value = (self.cleaned_data.get("uscc") or "").strip().upper()
        return value or None

    def _post_clean(self) -> None:
        # The service validates the model (it knows the actor's scope); skip ModelForm's instance checks.
        pass


class CommissionerForm(forms.Form):
    role = forms.ChoiceField(label=_("role"), choices=Commissioner.Role.choices)
    user: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("person"), queryset=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.for_user(user).filter(is_active=True)  # type: ignore[attr-defined]


class PolicyForm(forms.Form):
    insurer = forms.CharField(label=_("insurer"), max_length=100)
    number = forms.CharField(label=_("policy number"), max_length=60)
    coverage = forms.DecimalField(label=_("coverage (yuan)"), max_digits=14, decimal_places=2, min_value=0)
    starts_on = forms.DateField(label=_("start"), widget=DATE)
    ends_on = forms.DateField(label=_("end"), widget=DATE)


class SubtypeForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=Institution.Kind.choices)
    code = forms.SlugField(label=_("code"), max_length=40)
    name = forms.CharField(label=_("name"), max_length=50)
    order = forms.IntegerField(label=_("order"), min_value=0, max_value=999, initial=0)
    active = forms.BooleanField(label=_("active"), required=False, initial=True)


class OwnershipForm(forms.Form):
    code = forms.SlugField(label=_("code"), max_length=40)
    name = forms.CharField(label=_("name"), max_length=50)
    order = forms.IntegerField(label=_("order"), min_value=0, max_value=999, initial=0)
    active = forms.BooleanField(label=_("active"), required=False, initial=True)
