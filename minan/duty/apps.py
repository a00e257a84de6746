from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class DutyConfig(AppConfig):
    name = "minan.duty"
    label = "duty"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)

        # Imported here: the events read notify's models, loaded only after every apps.py.
        from minan.notify.events import register as notification_event
        from minan.notify.models import Urgency

        notification_event("duty.visits_overdue", gettext_lazy("Duty visits overdue"), Urgency.LOW)
        # The key keeps its first name: people's notification settings refer to it.
        notification_event(
            "institutions.insurance_expired", gettext_lazy("Liability insurance expired"), Urgency.NORMAL
        )
