from django.apps import AppConfig


class FirewatchConfig(AppConfig):
    name = "minan.firewatch"
    label = "firewatch"

    def ready(self) -> None:
        from .alarms import facts  # noqa: F401  (imported here: registers the open-alarm figure once models are loaded)
