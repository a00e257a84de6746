from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "minan.demo"
    label = "demo"
