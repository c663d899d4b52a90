from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class CoreConfig(AppConfig):
    name = "jiedao.core"
    label = "core"

    def ready(self) -> None:
        # The empty choice of every select (a ModelChoiceField's default, a model field's blank
        # choice). Django 6.1's own label has no zh-hans translation; it asks projects to set
        # this in ready().
        from django.db.models import fields

        fields.BLANK_CHOICE_LABEL = gettext_lazy("请选择")
