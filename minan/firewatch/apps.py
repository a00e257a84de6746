from django.apps import AppConfig


class FirewatchConfig(AppConfig):
    name = "minan.firewatch"
    label = "firewatch"
