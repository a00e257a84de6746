"""Forms of the device registry pages. They read and shape the input; `services.registry` checks the rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.core import limits
from minan.firewatch.models import Device
from minan.institutions.models import Institution


class PanelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.institution.name} · {obj.name} ({obj.serial})"


class DeviceForm(forms.Form):
    institution = forms.ModelChoiceField(
        label=gettext_lazy("institution"), queryset=Institution.objects.none()
    )
    type = forms.ChoiceField(label=gettext_lazy("device type"), choices=Device.Type.choices)
    name = forms.CharField(label=gettext_lazy("name"), max_length=100)
    serial = forms.CharField(label=gettext_lazy("serial number or IMEI"), max_length=64)
    protocol = forms.ChoiceField(label=gettext_lazy("protocol"), choices=Device.Protocol.choices)
    building = forms.CharField(label=gettext_lazy("building"), max_length=50, required=False)
    floor = forms.CharField(label=gettext_lazy("floor"), max_length=20, required=False)
    room = forms.CharField(label=gettext_lazy("room"), max_length=50, required=False)
    vendor = forms.CharField(label=gettext_lazy("vendor"), max_length=100, required=False)
    gb_address = forms.IntegerField(
        label=gettext_lazy("GB/T 26875 address"),
        required=False,
        min_value=0,
        help_text=gettext_lazy(
            "GB/T 26875.3 only: the transmission device's 6-byte address, as a decimal number."
        ),
    )
    gb_component = forms.CharField(
        label=gettext_lazy("GB/T 26875 component"),
        max_length=40,
        required=False,
        help_text=gettext_lazy(
            "Empty for the transmission device itself; 1:1 (system type:system address) for a panel; "
            "1:1:23 (…:component address) for a detector behind it."
        ),
    )
    panel = PanelChoiceField(
        label=gettext_lazy("control panel"), queryset=Device.objects.none(), required=False
    )
    heartbeat_seconds = forms.IntegerField(label=gettext_lazy("heartbeat period (s)"), initial=300)
    grace_seconds = forms.IntegerField(label=gettext_lazy("grace (s)"), initial=60)
    thresholds = forms.CharField(
        label=gettext_lazy("thresholds"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=gettext_lazy(
            'JSON: reading code → {"min", "max", "for_seconds"}, e.g. '
            '{"pressure": {"min": 0.1, "max": 1.2, "for_seconds": 60}}. Empty: no thresholds.'
        ),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        institutions: Any = self.fields["institution"]
        institutions.queryset = Institution.objects.for_user(user).order_by("region_path", "name")
        panels: Any = self.fields["panel"]
        panels.queryset = (
            Device.objects.for_user(user)
            .filter(type=Device.Type.PANEL)
            .select_related("institution")
            .order_by("institution__name", "name")
        )

    def clean_thresholds(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("thresholds") or "").strip()
        if not text:
            return {}
        try:
            value = limits.loads(text)  # depth-limited: deep nesting is a form error, not a RecursionError
        except limits.BodyRefused:
            raise forms.ValidationError(
                _('Enter the thresholds as a JSON object, e.g. {"pressure": {"min": 0.1, "max": 1.2}}.')
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                _('Enter the thresholds as a JSON object, e.g. {"pressure": {"min": 0.1, "max": 1.2}}.')
            )
        return value

    @staticmethod
    def initial_for(device: Device) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(device, name)
            for name in ("institution", "type", "name", "serial", "protocol", "building", "floor", "room",
                         "vendor", "gb_address", "gb_component", "panel", "heartbeat_seconds", "grace_seconds")
        }  # fmt: skip
        initial["thresholds"] = json.dumps(device.thresholds, ensure_ascii=False) if device.thresholds else ""
        return initial


class MaintenanceForm(forms.Form):
    start = forms.DateTimeField(
        label=gettext_lazy("maintenance from"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Empty: now."),
    )
    end = forms.DateTimeField(
        label=gettext_lazy("maintenance until"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(label=gettext_lazy("maintenance reason"), max_length=200)


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (.xlsx)"))
