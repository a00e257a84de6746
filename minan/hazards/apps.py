from django.apps import AppConfig


class HazardsConfig(AppConfig):
    name = "minan.hazards"
    label = "hazards"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core.panels import register

        from . import panels

        register(panels)
        from . import facts  # noqa: F401  (imported here: registers the hazard figures once models are loaded)
