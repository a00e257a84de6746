"""Forms of the checklist pages. They check the shape of the input; `services` applies the rules (answer
types, choices, limits, clause keys, drafts only) and writes. Labels are the models' own."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.hazards.models import Category, Clause
from minan.institutions.models import Institution

from ..models import ChecklistItem, ChecklistSection, ChecklistTemplate, Kind
from . import services

AnswerType = ChecklistItem.AnswerType


def _label(model: Any, name: str) -> Any:
    return model._meta.get_field(name).verbose_name


class ChecklistForm(forms.Form):
    """A new checklist family (with `code`) or a draft's metadata (without)."""

    code = forms.CharField(
        label=_label(ChecklistTemplate, "code"),
        max_length=40,
        help_text=_("Letters, digits, hyphens and underscores, e.g. fire-daily. It names every version."),
    )
    title = forms.CharField(label=_label(ChecklistTemplate, "title"), max_length=200)
    description = forms.CharField(
        label=pgettext_lazy("checklist", "description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    kinds = forms.MultipleChoiceField(
        label=_label(ChecklistTemplate, "kinds"),
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any kind of inspection."),
    )
    institution_kinds = forms.MultipleChoiceField(
        label=_label(ChecklistTemplate, "institution_kinds"),
        choices=Institution.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any institution."),
    )
    cadence = forms.ChoiceField(
        label=_label(ChecklistTemplate, "cadence"), choices=ChecklistTemplate.Cadence.choices, required=False
    )
    basis = forms.CharField(label=_label(ChecklistTemplate, "basis"), max_length=300, required=False)

    def __init__(self, *args: Any, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["code"]

    @staticmethod
    def initial_for(template: ChecklistTemplate) -> dict[str, Any]:
        return {name: getattr(template, name) for name in services.TEMPLATE_FIELDS}


class SectionForm(forms.Form):
    title = forms.CharField(label=_label(ChecklistSection, "title"), max_length=200)


class ClauseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.key} · {obj.text[:40]}"


class ItemForm(forms.Form):
    """Every field of an item. The page shows only the fields of the chosen answer type (`data-for`);
    `values()` drops what another answer type left behind before the service checks the rest."""

    # Which answer types each type-specific field belongs to.
    TYPE_FIELDS: dict[str, tuple[str, ...]] = {
        "choices": (AnswerType.CHOICE,),
        "failing_choices": (AnswerType.CHOICE,),
        "min_value": (AnswerType.NUMBER,),
        "max_value": (AnswerType.NUMBER,),
        "unit": (AnswerType.NUMBER,),
    }

    section = forms.ModelChoiceField(label=_("Section"), queryset=ChecklistSection.objects.none())
    code = forms.CharField(
        label=_label(ChecklistItem, "code"),
        max_length=20,
        help_text=_("Stable across versions, e.g. D01; unique within the version."),
    )
    question = forms.CharField(
        label=_label(ChecklistItem, "question"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )
    answer_type = forms.ChoiceField(label=_label(ChecklistItem, "answer_type"), choices=AnswerType.choices)
    choices = forms.CharField(
        label=_label(ChecklistItem, "choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One choice per line, at least two."),
    )
    failing_choices = forms.CharField(
        label=_label(ChecklistItem, "failing_choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line, each one of the choices above; choosing one of them fails the item."),
    )
    min_value = forms.DecimalField(
        label=_label(ChecklistItem, "min_value"), required=False, max_digits=12, decimal_places=3
    )
    max_value = forms.DecimalField(
        label=_label(ChecklistItem, "max_value"),
        required=False,
        max_digits=12,
        decimal_places=3,
        help_text=_("A value outside the limits fails the item; leave a limit empty for none."),
    )
    unit = forms.CharField(label=_label(ChecklistItem, "unit"), max_length=20, required=False)
    photo_on_fail = forms.BooleanField(label=_label(ChecklistItem, "photo_on_fail"), required=False)
    note_on_fail = forms.BooleanField(
        label=_label(ChecklistItem, "note_on_fail"), required=False, initial=True
    )
    severity = forms.ChoiceField(
        label=_label(ChecklistItem, "severity"),
        choices=ChecklistItem.Severity.choices,
        initial=ChecklistItem.Severity.MEDIUM,
    )
    points = forms.IntegerField(
        label=_label(ChecklistItem, "points"), min_value=0, max_value=services.MAX_POINTS, initial=1
    )
    major_on_fail = forms.BooleanField(label=_label(ChecklistItem, "major_on_fail"), required=False)
    clause = ClauseChoiceField(
        label=_label(ChecklistItem, "clause"),
        queryset=Clause.objects.none(),
        required=False,
        help_text=_(
            "A failure of an item linked to a clause of a set that makes hazards major is a major hazard."
        ),
    )
    basis = forms.CharField(
        label=_label(ChecklistItem, "basis"),
        max_length=200,
        required=False,
        help_text=_("e.g. GB/T 40248-2021 §7.3"),
    )
    hazard_category = forms.ChoiceField(
        label=_label(ChecklistItem, "hazard_category"), choices=Category.choices, initial=Category.FIRE
    )

    def __init__(
        self, *args: Any, template: ChecklistTemplate, item: ChecklistItem | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.fields["section"].queryset = ChecklistSection.objects.filter(template=template)  # type: ignore[attr-defined]
        # Clauses of the sets in force, and the item's own clause even if its set has been superseded.
        offered = Q(criteria_set__active=True) | Q(pk=item.clause_id if item is not None else None)
        self.fields["clause"].queryset = (  # type: ignore[attr-defined]
            Clause.objects.select_related("criteria_set")
            .filter(offered)
            .order_by("criteria_set__code", "order", "key")
        )
        for name, types in self.TYPE_FIELDS.items():
            self.fields[name].widget.attrs["data-for"] = " ".join(types)

    @staticmethod
    def initial_for(item: ChecklistItem) -> dict[str, Any]:
        initial = {name: getattr(item, name) for name in services.CONTENT_FIELDS if name != "clause"}
        initial.update(
            section=item.section_id, clause=item.clause_id, choices="\n".join(item.choices),
            failing_choices="\n".join(item.failing_choices),
        )  # fmt: skip
        return initial

    def values(self) -> dict[str, Any]:
        """The cleaned data for `services.save_item`, without the fields of other answer types."""
        values = dict(self.cleaned_data)
        kind = values.get("answer_type")
        for name, types in self.TYPE_FIELDS.items():
            if kind not in types:
                values[name] = (
                    [] if name in ("choices", "failing_choices") else ("" if name == "unit" else None)
                )
        return values


class ImportForm(forms.Form):
    file = forms.FileField(label=_("xlsx file"), widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}))
