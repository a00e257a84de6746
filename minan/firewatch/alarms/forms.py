"""The close-out form of an alarm (GB 25201 §5.3) and the escalation-chain form.

The forms only collect what was entered: the rules (which detail each class needs, which steps a chain
may have) live in `handling.clean_close_detail` and `chains.validate_steps`, whose DomainError
names the field it is shown next to.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from minan.firewatch.models import Alarm

from .services import RECIPIENTS, false_alarm_causes

YES_NO = [("yes", pgettext_lazy("answer", "Yes")), ("no", pgettext_lazy("answer", "No"))]

# The fields of each close-out class, in the order of the form.
CLASS_FIELDS: dict[str, list[str]] = {
    Alarm.Classification.REAL: [
        "confirmed_at",
        "called_119",
        "called_119_at",
        "plan_started",
        "casualties",
        "losses",
    ],  # fmt: skip
    Alarm.Classification.FALSE: ["cause", "repair_log"],
    Alarm.Classification.TEST: ["tested_by", "maintenance_window"],
    Alarm.Classification.FAULT: ["description", "maintenance_order"],
}


class CloseForm(forms.Form):
    classification = forms.ChoiceField(
        label=_("classification"), required=False, widget=forms.RadioSelect,
        choices=Alarm.Classification.choices,
    )  # fmt: skip
    confirmed_at = forms.CharField(
        label=_("Confirmed at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    called_119 = forms.ChoiceField(
        label=_("119 called"), required=False, choices=YES_NO, widget=forms.RadioSelect
    )
    called_119_at = forms.CharField(
        label=_("119 called at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    plan_started = forms.ChoiceField(
        label=_("Fire plan started"), required=False, choices=YES_NO, widget=forms.RadioSelect
    )
    casualties = forms.CharField(
        label=_("Casualties"), required=False, widget=forms.NumberInput(attrs={"min": 0, "step": 1})
    )
    losses = forms.CharField(
        label=_("Losses"), required=False, max_length=500, widget=forms.Textarea({"rows": 2})
    )
    cause = forms.ChoiceField(label=_("Cause"), required=False)
    repair_log = forms.CharField(
        label=_("Repair-log entry"), required=False, max_length=500, widget=forms.Textarea({"rows": 2})
    )
    tested_by = forms.CharField(label=_("Tested by"), required=False, max_length=100)
    maintenance_window = forms.CharField(label=_("Maintenance window"), required=False, max_length=500)
    description = forms.CharField(
        label=_("Fault description"), required=False, max_length=500, widget=forms.Textarea({"rows": 2})
    )
    maintenance_order = forms.CharField(label=_("Maintenance order"), required=False, max_length=100)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=1000, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        causes = forms.ChoiceField(choices=[("", "—"), *false_alarm_causes().items()]).choices
        self.fields["cause"].choices = causes  # type: ignore[attr-defined]

    def detail(self) -> dict[str, Any]:
        """What was entered for the chosen class, as `handling.close` takes it."""
        data = self.cleaned_data
        names = CLASS_FIELDS.get(str(data.get("classification") or ""), [])
        return {name: data.get(name, "") for name in names}

    def groups(self) -> list[tuple[str, str, list[Any]]]:
        """(class, label, bound fields) for the template: one fieldset per class."""
        labels = dict(Alarm.Classification.choices)
        return [
            (code, str(labels[code]), [self[name] for name in names]) for code, names in CLASS_FIELDS.items()
        ]


class ChainStepsForm:
    """The steps of a chain as posted by the editor: rows `wait_<i>` and `notify_<i>` (several values),
    and `repeat_minutes`. Whole-number parsing only; `chains.validate_steps` decides."""

    MAX_ROWS = 10

    def __init__(self, data: Any) -> None:
        self.data = data

    @staticmethod
    def _int(raw: Any) -> Any:
        text = str(raw if raw is not None else "").strip()
        try:
            return int(text)
        except ValueError:
            return text  # validate_steps refuses it with its message

    def steps(self) -> list[dict[str, Any]]:
        steps = []
        for i in range(self.MAX_ROWS + 1):
            wait = self.data.get(f"wait_{i}")
            notify = [code for code in self.data.getlist(f"notify_{i}") if code]
            if (wait is None or str(wait).strip() == "") and not notify:
                continue
            steps.append({"wait_minutes": self._int(wait), "notify": notify})
        return steps

    def repeat_minutes(self) -> Any:
        raw = self.data.get("repeat_minutes")
        return 0 if raw is None or str(raw).strip() == "" else self._int(raw)


def recipient_choices() -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in RECIPIENTS.items()]
