from django.apps import AppConfig


class DutyConfig(AppConfig):
    name = "minan.duty"
    label = "duty"
