from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "minan.notify"
    label = "notify"
