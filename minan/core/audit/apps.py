from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "minan.core.audit"
    label = "audit"
