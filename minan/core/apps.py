from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "minan.core"
    label = "core"
