from django.apps import AppConfig


class InstitutionsConfig(AppConfig):
    name = "minan.institutions"
    label = "institutions"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)
