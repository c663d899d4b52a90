from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckerConfig(AppConfig):
    name = "jiedao.checker"
    label = "checker"
    verbose_name = _("报告校对")
