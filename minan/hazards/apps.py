from django.apps import AppConfig


class HazardsConfig(AppConfig):
    name = "minan.hazards"
    label = "hazards"

    def ready(self) -> None:
        # Imported here: panels read models, which are loaded only after every apps.py.
        from minan.core import registry

        from . import panels

        registry.register(panels)
        from . import facts  # noqa: F401  (registers the hazard figures other modules show)
