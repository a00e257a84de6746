from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "minan.regions"
    label = "regions"
