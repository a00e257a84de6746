from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class FirewatchConfig(AppConfig):
    name = "minan.firewatch"
    label = "firewatch"

    def ready(self) -> None:
        # Imported here: the events read notify's models, loaded only after every apps.py.
        from minan.notify.events import register as notification_event
        from minan.notify.models import Urgency

        from .alarms import facts  # noqa: F401  (imported here: registers the open-alarm figure once models are loaded)

        notification_event("firewatch.alarm", gettext_lazy("Fire-monitoring alarm"), Urgency.NORMAL)
        notification_event(
            "firewatch.alarms",
            gettext_lazy("Several fire-monitoring alarms of one institution"),
            Urgency.NORMAL,
        )
