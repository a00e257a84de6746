from django.apps import AppConfig


class InstitutionsConfig(AppConfig):
    name = "minan.institutions"
    label = "institutions"
