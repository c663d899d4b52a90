from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "jiedao.core"
    label = "core"
