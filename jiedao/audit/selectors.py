"""Reading the audit trail: which events an auditor may see, and the filters of the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from jiedao.accounts.access import scope_paths
from jiedao.accounts.roles import Cap

from .models import AuditEvent

# How event codes read on screen and in exports; a code missing here is shown as it is.
EVENT_LABELS: dict[str, str] = {
    "auth.login": "登录",
    "auth.logout": "退出登录",
    "auth.lock": "账号锁定",
    "auth.idle_logout": "超时退出",
    "accounts.user_create": "创建账号",
    "accounts.password_set": "设置密码",
    "accounts.user_activate": "启用账号",
    "accounts.user_deactivate": "停用账号",
    "accounts.user_unlock": "解锁账号",
    "accounts.membership_grant": "授予角色",
    "accounts.membership_revoke": "撤销角色",
    "org.unit_create": "新建单位",
    "org.unit_update": "修改单位",
    "audit.export": "导出审计日志",
    "audit.verify": "校验审计链",
}


def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type)


def _is_district_path(path: str) -> bool:
    """A unit at the top of the tree: its path names one id, ``/<id>/``."""
    return len([part for part in path.split("/") if part]) == 1


def events_for(user) -> QuerySet[AuditEvent]:
    """The audit events ``user`` may read (Cap.AUDIT), newest first.

    An event belongs to the unit it was recorded against: it is in scope when its
    ``org_path`` (copied at write time, so a later move of the unit does not hide old rows)
    starts with one of the user's audit scope paths. Events tied to no unit — failed logins
    under unknown usernames, system events — have an empty ``org_path``; only an auditor
    whose scope includes a district-level unit (path depth 1, i.e. a whole tree) sees them,
    because they cannot be attributed to any one street. A user without Cap.AUDIT sees none.
    """
    paths = scope_paths(user, Cap.AUDIT)
    if not paths:
        return AuditEvent.objects.none()
    q = Q()
    for path in paths:
        q |= Q(org_path__startswith=path)
    if any(_is_district_path(path) for path in paths):
        q |= Q(org_path="")
    return AuditEvent.objects.filter(q).order_by("-seq")


def local_day_start(day: date) -> datetime:
    """Midnight of ``day`` in the site's time zone (Asia/Shanghai), as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class EventFilter:
    """The list page's filters; empty values filter nothing. Dates are local and inclusive."""

    date_from: date | None = None
    date_to: date | None = None
    actor: str = ""
    event_type: str = ""
    target: str = ""
    success: bool | None = None

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.date_from:
            events = events.filter(created_at__gte=local_day_start(self.date_from))
        if self.date_to:
            events = events.filter(created_at__lt=local_day_start(self.date_to + timedelta(1)))
        if self.actor:
            events = events.filter(actor_label__icontains=self.actor)
        if self.event_type:
            events = events.filter(event_type=self.event_type)
        if self.target:
            events = events.filter(
                Q(target_label__icontains=self.target)
                | Q(target_type__icontains=self.target)
                | Q(target_id=self.target)
            )
        if self.success is not None:
            events = events.filter(success=self.success)
        return events

    def describe(self) -> str:
        """The filter in words, for the ``audit.export`` event's detail and the workbook."""
        parts = []
        if self.date_from:
            parts.append(f"起始日期={self.date_from.isoformat()}")
        if self.date_to:
            parts.append(f"截止日期={self.date_to.isoformat()}")
        if self.actor:
            parts.append(f"操作人含“{self.actor}”")
        if self.event_type:
            parts.append(f"事件={self.event_type}")
        if self.target:
            parts.append(f"对象含“{self.target}”")
        if self.success is not None:
            parts.append("结果=" + ("成功" if self.success else "失败"))
        return ";".join(parts) or "全部"


def event_types(events: QuerySet[AuditEvent]) -> list[str]:
    """The distinct event types among ``events``, for the filter's select."""
    return sorted(set(events.order_by().values_list("event_type", flat=True).distinct()))
