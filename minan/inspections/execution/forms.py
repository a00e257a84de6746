"""Forms of the inspection pages (starting, answering, photos, submitting, cancelling). They check the
shape of the input; `services` applies the rules and writes. Institutions are offered through the
scoping mechanism; checklists are deployment-wide reference data (published versions only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from minan.core.limits import parse_int64
from minan.duty.forms import MultipleFileField, MultipleFileInput
from minan.institutions.models import Institution

from ..models import ChecklistTemplate, Kind

PHOTO_TYPES = "image/jpeg,image/png"
# A signature drawn on a phone is a small PNG; its data URL stays well below the service's 512 KB.
SIGNATURE_CHARS = 800_000


class TemplateField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.title} v{obj.version}"


class StartForm(forms.Form):
    """Begin an ad-hoc inspection (`services.start`); a task is started from its own button."""

    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())
    kind = forms.ChoiceField(label=_("inspection kind"), choices=[("", "—"), *Kind.choices])
    template = TemplateField(label=_("checklist"), queryset=ChecklistTemplate.objects.none())
    team = forms.CharField(
        label=_("other team members"),
        max_length=300,
        required=False,
        help_text=_("Names of the people inspecting with you, if any."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        institution: Any = self.fields["institution"]
        institution.queryset = Institution.objects.for_user(user).order_by("region_path", "name")
        template: Any = self.fields["template"]
        template.queryset = ChecklistTemplate.objects.filter(
            status=ChecklistTemplate.Status.PUBLISHED
        ).order_by("title", "code")


class AnswerForm(forms.Form):
    """One item's answer as posted by its form on the execution page (or by its fetch)."""

    outcome = forms.CharField(max_length=4, required=False)
    number = forms.CharField(max_length=40, required=False)
    text = forms.CharField(max_length=2000, required=False, strip=False)
    note = forms.CharField(max_length=2000, required=False)


class PhotoForm(forms.Form):
    photos = MultipleFileField(
        label=_("photos (JPEG or PNG)"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": PHOTO_TYPES, "capture": "environment"}),
    )


class SubmitForm(forms.Form):
    """Finish the inspection. The failures to merge into open hazards arrive as `merge_<item id>` fields
    (read by `merges()`); the service checks that each is a failed item and an open hazard in scope."""

    representative = forms.CharField(label=_("institution representative"), max_length=50, required=False)
    summary = forms.CharField(
        label=_("summary"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    inspector_signature = forms.CharField(
        max_length=SIGNATURE_CHARS, required=False, widget=forms.HiddenInput
    )
    representative_signature = forms.CharField(
        max_length=SIGNATURE_CHARS, required=False, widget=forms.HiddenInput
    )

    def merges(self) -> dict[int, int]:
        chosen = {}
        for key, value in self.data.items():
            item, hazard = parse_int64(key[6:]), parse_int64(value)  # ids of 64 bits, not just isdigit()
            if key.startswith("merge_") and item is not None and hazard is not None:
                chosen[item] = hazard
        return chosen


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
