"""Forms of the plan and task pages. They check the shape of the input; `services` applies the rules and
writes. Regions, institutions and people offered are read through the scoping mechanism."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from minan.accounts.models import User
from minan.institutions.models import Institution, RiskClass
from minan.regions.models import Region

from ..models import ChecklistTemplate, InspectionPlan, Kind

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.username})"


class RegionField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


class PlanForm(forms.Form):
    """Create or change a plan (`services.save_plan`)."""

    name = forms.CharField(label=_("name"), max_length=200)
    template_code = forms.ChoiceField(label=_("checklist"))
    kind = forms.ChoiceField(label=_("inspection kind"), choices=Kind.choices)
    cadence = forms.ChoiceField(
        label=_("cadence"),
        choices=InspectionPlan.Cadence.choices,
        help_text=_(
            "By risk class: each institution as often as its class's minimum number of inspections asks."
        ),
    )
    region = RegionField(
        label=_("region"),
        queryset=Region.objects.none(),
        required=False,
        help_text=_("The institutions of this region are covered; empty: your own region."),
    )
    institution_kinds = forms.MultipleChoiceField(
        label=_("institution kinds"),
        choices=Institution.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: the kinds the checklist is meant for."),
    )
    risk_classes = forms.MultipleChoiceField(
        label=_("risk classes"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every class."),
    )  # fmt: skip
    institutions = forms.ModelMultipleChoiceField(
        label=_("institutions"),
        queryset=Institution.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Choose institutions only to cover exactly these instead of the region."),
    )
    due_working_days = forms.IntegerField(
        label=_("due after working days"),
        required=False,
        min_value=0,
        max_value=250,
        help_text=_("Empty: each task is due on the last working day of its period."),
    )
    auto_assign = forms.BooleanField(label=_("assign tasks automatically"), required=False, initial=True)
    starts_on = forms.DateField(label=_("from"), widget=DATE)
    ends_on = forms.DateField(label=_("until"), required=False, widget=DATE)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        published = ChecklistTemplate.objects.filter(status=ChecklistTemplate.Status.PUBLISHED).order_by(
            "code"
        )
        self.fields["template_code"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (t.code, f"{t.title} ({t.code} v{t.version})") for t in published
        ]
        self.fields["risk_classes"].choices = [  # type: ignore[attr-defined]
            (c.code, f"{c.code} {c.label}") for c in RiskClass.objects.order_by("order", "code")
        ]
        self.fields["region"].queryset = (  # type: ignore[attr-defined]
            Region.objects.for_user(user).exclude(level=Region.Level.TOWNSHIP).order_by("region_path")
        )
        self.fields["institutions"].queryset = (  # type: ignore[attr-defined]
            Institution.objects.for_user(user).order_by("region_path", "name")
        )

    @staticmethod
    def initial_for(plan: InspectionPlan) -> dict[str, Any]:
        return {
            "name": plan.name,
            "template_code": plan.template_code,
            "kind": plan.kind,
            "cadence": plan.cadence,
            "region": plan.region_id,
            "institution_kinds": plan.institution_kinds,
            "risk_classes": plan.risk_classes,
            "institutions": list(plan.institutions.values_list("pk", flat=True)),
            "due_working_days": plan.due_working_days,
            "auto_assign": plan.auto_assign,
            "starts_on": plan.starts_on,
            "ends_on": plan.ends_on,
        }


class AssignForm(forms.Form):
    """Give a task to someone (`services.assign`). Anyone active in the directory may be chosen; the
    service says why a person may not take the task."""

    user = PersonField(
        label=_("assign to"),
        queryset=None,
        required=False,
        empty_label=_("nobody (unassigned)"),
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            User.objects.for_user(actor).filter(is_active=True).order_by("region_path", "display_name")
        )
