from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class InspectionsConfig(AppConfig):
    name = "minan.inspections"
    label = "inspections"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)

        # Imported here: the events read notify's models, loaded only after every apps.py.
        from minan.notify.events import register as notification_event
        from minan.notify.models import Urgency

        notification_event("inspections.missed", gettext_lazy("Inspection task missed"), Urgency.NORMAL)
