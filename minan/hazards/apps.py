from django.apps import AppConfig


class HazardsConfig(AppConfig):
    name = "minan.hazards"
    label = "hazards"

    def ready(self) -> None:
        from . import facts  # noqa: F401  (registers the hazard figures other modules show)
