from django.apps import AppConfig


class DutyConfig(AppConfig):
    name = "minan.duty"
    label = "duty"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)
