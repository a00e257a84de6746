from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class HazardsConfig(AppConfig):
    name = "minan.hazards"
    label = "hazards"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)
        # Imported here: the events read notify's models, loaded only after every apps.py.
        from minan.notify.events import register as notification_event
        from minan.notify.models import Urgency

        from . import facts  # noqa: F401  (imported here: registers the hazard figures once models are loaded)

        notification_event("hazards.reminder", gettext_lazy("Hazard deadline approaching"), Urgency.NORMAL)
        notification_event("hazards.overdue", gettext_lazy("Hazard overdue"), Urgency.NORMAL)
