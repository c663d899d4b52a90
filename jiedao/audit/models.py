"""The audit trail (全程留痕).

Rows are append-only: triggers on SQLite and PostgreSQL refuse UPDATE and DELETE (see the
0002 migration), and each row carries ``hash`` = SHA-256 over its own content and the
previous row's hash, so ``jiedao audit verify`` finds a row altered, inserted or removed
behind the database's back. ``seq`` is gapless and assigned under the chain-head lock.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    seq = models.BigIntegerField(_("序号"), unique=True)
    created_at = models.DateTimeField(_("时间"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        on_delete=models.PROTECT,  # accounts that acted are deactivated, never deleted
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("操作人"), max_length=150, blank=True)
    event_type = models.CharField(_("事件类型"), max_length=64, db_index=True)
    target_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    target_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    target_label = models.CharField(_("对象"), max_length=200, blank=True)
    org_unit = models.ForeignKey(
        "core.OrgUnit",
        verbose_name=_("所属单位"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Copied from org_unit at write time so scoping survives a later move of the unit.
    org_path = models.CharField(max_length=255, blank=True, db_index=True)
    success = models.BooleanField(_("成功"), default=True)
    changes = models.JSONField(_("变更"), default=dict, blank=True)
    detail = models.CharField(_("说明"), max_length=500, blank=True)
    client_ip = models.CharField(_("客户端地址"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        ordering = ["-seq"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type}"


class AuditChainHead(models.Model):
    """One row: the last sealed seq and hash. Locking it is the only serialised step."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("审计链头")

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"
