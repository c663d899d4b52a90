"""The sensitive-word lexicon, managed by system administrators (Cap.CONFIG).

A word belongs to an org unit (usually the district or a street): it applies to the texts
checked by anyone working in that unit's subtree or above it, so a district-wide word reaches
every street and a street's own word is not imposed on its neighbours.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import lexicon


class WordCategory(models.TextChoices):
    SENSITIVE = lexicon.SENSITIVE, _("敏感词")
    FILTER_NOTICE = lexicon.FILTER_NOTICE, _("过滤提示")
    EDIT_MARK = lexicon.EDIT_MARK, _("编辑标记")


class SensitiveWord(models.Model):
    word = models.CharField(_("词语"), max_length=100)
    category = models.CharField(_("类别"), max_length=16, choices=WordCategory.choices,
                                default=WordCategory.SENSITIVE)
    note = models.CharField(_("说明"), max_length=200, blank=True,
                            help_text=_("写入批注,例如建议的替代说法"))
    org_unit = models.ForeignKey("core.OrgUnit", verbose_name=_("适用单位"), on_delete=models.PROTECT,
                                 related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("添加人"), null=True,
                                   blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("添加时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("敏感词")
        verbose_name_plural = _("敏感词库")
        ordering = ["word"]
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "word"], name="checker_word_unique_in_unit"),
        ]

    def __str__(self) -> str:
        return self.word
