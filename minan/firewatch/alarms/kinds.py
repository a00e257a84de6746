"""The kinds of alarm: their labels, and which devices and kinds make up fire-system faults."""

from __future__ import annotations

from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from minan.firewatch.models import Device

FIRE_SYSTEM = {
    Device.Type.SMOKE, Device.Type.HEAT, Device.Type.CALL_POINT, Device.Type.PANEL, Device.Type.TRANSMITTER,
    Device.Type.ELECTRICAL, Device.Type.WATER_PRESSURE, Device.Type.WATER_LEVEL,
}  # fmt: skip

FIRE_SYSTEM_FAULTS = {"fault", "offline"}


KIND_LABELS = {
    "fire": gettext_lazy("Fire alarm"),
    "supervisory": gettext_lazy("Supervisory alarm"),
    "gas": gettext_lazy("Combustible gas"),
    "fault": gettext_lazy("Fault"),
    "offline": gettext_lazy("Offline"),
    "power_fault": gettext_lazy("Power fault"),
    "isolated": gettext_lazy("Isolated"),
}


def alarm_label(kind: str) -> str:
    if kind.startswith("threshold:"):
        return _("Threshold: %(code)s") % {"code": kind.split(":", 1)[1]}
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


# The label translated when it is shown: a message renders it in each recipient's own language.
alarm_label_lazy = lazy(alarm_label, str)
