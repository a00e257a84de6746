from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "minan.inspections"
    label = "inspections"
