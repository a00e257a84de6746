from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "minan.audit"
    label = "audit"
