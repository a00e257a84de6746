from django.apps import AppConfig


class FirewatchConfig(AppConfig):
    name = "minan.firewatch"
    label = "firewatch"

    def ready(self) -> None:
        from .alarms import facts  # noqa: F401  (registers the open-alarm figure other modules show)
