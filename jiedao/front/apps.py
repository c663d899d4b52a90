from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "jiedao.front"
    label = "front"
