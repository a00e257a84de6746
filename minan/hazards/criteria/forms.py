"""Forms of the criteria catalogue pages. They check the shape of the input; `services` applies the rules
(unique code and key, dates, no supersession cycle) and writes. Labels are the models' own."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from minan.hazards.models import Clause, CriteriaSet


def _label(model: Any, name: str) -> Any:
    return model._meta.get_field(name).verbose_name


class CriteriaSetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} · {obj.title}"


class CriteriaSetForm(forms.Form):
    code = forms.CharField(
        label=_label(CriteriaSet, "code"),
        max_length=40,
        help_text=_("Letters, digits, hyphens and underscores, e.g. mca-2023-elderly-major."),
    )
    title = forms.CharField(label=_label(CriteriaSet, "title"), max_length=200)
    issuer = forms.CharField(label=_label(CriteriaSet, "issuer"), max_length=100, required=False)
    issued_on = forms.DateField(
        label=_label(CriteriaSet, "issued_on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    effective_on = forms.DateField(
        label=_label(CriteriaSet, "effective_on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    expected_items = forms.IntegerField(
        label=_label(CriteriaSet, "expected_items"),
        min_value=0,
        max_value=500,
        initial=0,
        help_text=_("How many situations the official text lists; the catalogue shows how many are loaded."),
    )
    source = forms.CharField(label=_label(CriteriaSet, "source"), max_length=300, required=False)
    superseded_by = CriteriaSetChoiceField(
        label=_label(CriteriaSet, "superseded_by"),
        queryset=CriteriaSet.objects.none(),
        required=False,
        help_text=_("The set that replaces this one. This set stays readable and hazards keep its clauses."),
    )
    active = forms.BooleanField(
        label=_label(CriteriaSet, "active"),
        required=False,
        initial=True,
        help_text=_("Only clauses of sets in force can be chosen for new hazards."),
    )
    makes_major = forms.BooleanField(label=_label(CriteriaSet, "makes_major"), required=False, initial=True)
    local = forms.BooleanField(label=_label(CriteriaSet, "local"), required=False)

    def __init__(self, *args: Any, instance: CriteriaSet | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = CriteriaSet.objects.order_by("code")
        if instance is not None:
            choices = choices.exclude(pk=instance.pk)
        self.fields["superseded_by"].queryset = choices  # type: ignore[attr-defined]

    @staticmethod
    def initial_for(instance: CriteriaSet) -> dict[str, Any]:
        return {
            "code": instance.code, "title": instance.title, "issuer": instance.issuer,
            "issued_on": instance.issued_on, "effective_on": instance.effective_on,
            "expected_items": instance.expected_items, "source": instance.source,
            "superseded_by": instance.superseded_by_id, "active": instance.active,
            "makes_major": instance.makes_major, "local": instance.local,
        }  # fmt: skip


class ClauseForm(forms.Form):
    key = forms.CharField(
        label=_label(Clause, "key"),
        max_length=40,
        help_text=_("Upper-case letters, digits and dashes, unique across all sets, e.g. MCA2023-6-2."),
    )
    group = forms.CharField(label=_label(Clause, "group"), max_length=100, required=False)
    text = forms.CharField(label=_label(Clause, "text"), widget=forms.Textarea(attrs={"rows": 4}))
    text_en = forms.CharField(
        label=_label(Clause, "text_en"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    complete = forms.BooleanField(
        label=_label(Clause, "complete"),
        required=False,
        help_text=_("Tick only when the text is the official wording, not a paraphrase."),
    )
    order = forms.IntegerField(
        label=_("Order"),
        min_value=0,
        max_value=32767,
        required=False,
        help_text=_("Empty: after the last clause of the set."),
    )

    @staticmethod
    def initial_for(instance: Clause) -> dict[str, Any]:
        return {
            name: getattr(instance, name) for name in ("key", "group", "text", "text_en", "complete", "order")
        }
