"""Forms of the hazard pages. They validate the shape of the input; `services` applies the rules and
writes. Choices of institutions and people are read through the scoping mechanism."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from minan.duty.forms import MultipleFileField, MultipleFileInput
from minan.institutions.models import Institution

from . import selectors
from .models import Category, Clause, Hazard, Source
from .workflow import Move

FILE_TYPES = "image/jpeg,image/png,application/pdf"


def _files_field(label: Any, *, required: bool) -> MultipleFileField:
    # `required` marks the field for the browser; the service refuses missing evidence (MultipleFileField
    # answers [] for no file without checking `required`).
    return MultipleFileField(
        label=label, required=required, widget=MultipleFileInput(attrs={"accept": FILE_TYPES})
    )


def _blank(choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", "—"), *choices]


class ClauseField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        text = obj.text_en if get_language() == "en" and obj.text_en else obj.text
        return f"{obj.key} {text[:60]}{'…' if len(text) > 60 else ''}"


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.username})"


class ReportForm(forms.Form):
    """Register a hazard found at an institution (`services.loop.report`)."""

    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())
    source = forms.ChoiceField(label=_("source"), choices=_blank(Source.choices))
    category = forms.ChoiceField(label=_("category"), choices=_blank(Category.choices))
    level = forms.ChoiceField(label=_("level"), choices=Hazard.Level.choices, initial=Hazard.Level.GENERAL)
    clause = ClauseField(
        label=_("criteria clause"),
        queryset=Clause.objects.none(),
        required=False,
        help_text=_("A clause of the major-hazard criteria makes the hazard major."),
    )
    description = forms.CharField(
        label=_("description"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )
    location = forms.CharField(label=_("location in the institution"), max_length=200, required=False)
    responsible_person = forms.CharField(
        label=_("responsible person at the institution"), max_length=50, required=False
    )
    on_the_spot = forms.BooleanField(
        label=_("fixed on the spot (立行立改)"),
        required=False,
        help_text=_("Only for a general hazard fixed during the visit; attach photos of the fix."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Added here, not declared: a form's `files` attribute is its uploads.
        self.fields["files"] = _files_field(
            _("photos or documents (JPEG, PNG or PDF, up to nine)"), required=False
        )
        self.fields["institution"].queryset = (  # type: ignore[attr-defined]
            Institution.objects.for_user(user).order_by("region_path", "name")
        )
        self.fields["clause"].queryset = (  # type: ignore[attr-defined]
            Clause.objects.filter(criteria_set__active=True).order_by("criteria_set__code", "order", "key")
        )


class MoveForm(forms.Form):
    """One move of the workflow table on the detail page; the fields depend on the move."""

    action = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, move: Move, hazard: Hazard, actor: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{move.action}_%s")
        super().__init__(*args, **kwargs)
        self.move = move
        self.fields["action"].initial = move.action
        if move.action == "assign":
            self.fields["days"] = forms.IntegerField(
                label=_("deadline in working days"),
                min_value=1,
                max_value=365,
                initial=selectors.deadline_days(hazard.category, hazard.level),
            )
            self.fields["requirement"] = forms.CharField(
                label=_("rectification requirement"),
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
            if hazard.level == Hazard.Level.MAJOR:
                self.fields["supervisor"] = PersonField(
                    label=_("supervising official"),
                    # The officials of the hazard's supervising level (not a browse of the user directory).
                    queryset=selectors.valid_supervisors(hazard),
                )
        elif move.action == "submit":
            self.fields["measures_taken"] = forms.CharField(
                label=_("rectification done"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
            )
            self.fields["files"] = _files_field(_("evidence (JPEG, PNG or PDF, up to nine)"), required=True)
        self.fields["comment"] = forms.CharField(
            label=_("reason") if move.needs_comment else _("comment"),
            max_length=2000,
            required=move.needs_comment,
            widget=forms.Textarea(attrs={"rows": 2}),
        )

    @property
    def has_files(self) -> bool:
        return "files" in self.fields

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `services.loop.transition` from the cleaned data."""
        data = self.cleaned_data
        names = ("comment", "days", "requirement", "supervisor", "measures_taken", "files")
        return {name: data[name] for name in names if name in data and data[name] is not None}


class PlanForm(forms.Form):
    """The 五落实 plan of a major hazard (`services.loop.update_plan`); the service says what is missing."""

    plan_responsible = forms.CharField(
        label=_("responsibility (person and unit)"), max_length=100, required=False
    )
    plan_measures = forms.CharField(
        label=_("measures"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    plan_funds = forms.CharField(label=_("funds (amount and source)"), max_length=100, required=False)
    plan_deadline = forms.DateField(
        label=_("time limit"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    plan_contingency = forms.CharField(
        label=_("contingency plan"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_plan_%s")
        super().__init__(*args, **kwargs)
