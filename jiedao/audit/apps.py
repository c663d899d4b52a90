from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "jiedao.audit"
    label = "audit"
