from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "minan.inspections"
    label = "inspections"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)
