"""Roles (domain.md §2) and the capabilities each grants within its unit's subtree.

Role codes are stable: they are stored in memberships and in audit rows. Capabilities are
what code asks about ("may this user read business records here?"), so a change of policy is
one edit to ``GRANTS``, not a hunt through views.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    LEADER = "leader", _("街道领导")
    STAFF = "staff", _("科室干部")
    COMMUNITY_WORKER = "community_worker", _("社区工作者")
    GRID_WORKER = "grid_worker", _("网格员")
    PROVIDER = "provider", _("服务提供方")
    DISCIPLINE = "discipline", _("纪工委")
    RESIDENT = "resident", _("居民")
    DISTRICT_VIEWER = "district_viewer", _("区级查看")
    DISTRICT_STATISTICIAN = "district_statistician", _("区统计员")
    SYSADMIN = "sysadmin", _("系统管理员")
    SECADMIN = "secadmin", _("安全管理员")
    AUDITOR = "auditor", _("审计管理员")


class Cap(models.TextChoices):
    BUSINESS_READ = "business.read", _("查看业务数据")
    BUSINESS_WRITE = "business.write", _("办理业务")
    SUPERVISE = "case.supervise", _("督办、包案")
    GRID_REPORT = "case.report", _("上报事件")
    FULFIL_ORDERS = "orders.fulfil", _("接单、完成派给自己的服务")
    OWN_REQUESTS = "requests.own", _("提交和跟踪本人的诉求")
    REVEAL_PERSONAL = "personal.reveal", _("查看完整个人信息")
    INTEGRITY = "integrity.manage", _("廉政档案")
    DISTRICT_STATS = "indicators.district", _("录入全区各街道统计数据")
    USERS = "users.manage", _("账号管理")
    CONFIG = "config.manage", _("系统配置")
    ROLES = "roles.manage", _("角色授权")
    SECURITY = "security.manage", _("安全策略")
    AUDIT = "audit.read", _("审计日志")


# 三员分立: the three admin roles share no capability with each other or with business roles.
GRANTS: dict[str, frozenset[str]] = {
    Role.LEADER: frozenset({Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.SUPERVISE,
                            Cap.REVEAL_PERSONAL}),
    Role.STAFF: frozenset({Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.REVEAL_PERSONAL}),
    Role.COMMUNITY_WORKER: frozenset({Cap.BUSINESS_READ, Cap.BUSINESS_WRITE,
                                      Cap.REVEAL_PERSONAL}),
    Role.GRID_WORKER: frozenset({Cap.BUSINESS_READ, Cap.BUSINESS_WRITE, Cap.GRID_REPORT}),
    Role.PROVIDER: frozenset({Cap.FULFIL_ORDERS}),
    Role.DISCIPLINE: frozenset({Cap.INTEGRITY}),
    Role.RESIDENT: frozenset({Cap.OWN_REQUESTS}),
    Role.DISTRICT_VIEWER: frozenset({Cap.BUSINESS_READ}),
    Role.DISTRICT_STATISTICIAN: frozenset({Cap.BUSINESS_READ, Cap.DISTRICT_STATS}),
    Role.SYSADMIN: frozenset({Cap.USERS, Cap.CONFIG}),
    Role.SECADMIN: frozenset({Cap.ROLES, Cap.SECURITY}),
    Role.AUDITOR: frozenset({Cap.AUDIT}),
}

ADMIN_ROLES = frozenset({Role.SYSADMIN, Role.SECADMIN, Role.AUDITOR})

# Where in the tree each role may be held.
ROLE_UNIT_KINDS: dict[str, tuple[str, ...]] = {
    Role.LEADER: ("street",),
    Role.STAFF: ("department", "street"),
    Role.COMMUNITY_WORKER: ("community",),
    Role.GRID_WORKER: ("grid",),
    Role.PROVIDER: ("street", "community"),
    Role.DISCIPLINE: ("street", "department"),
    Role.RESIDENT: ("community", "grid"),
    Role.DISTRICT_VIEWER: ("district",),
    Role.DISTRICT_STATISTICIAN: ("district",),
    Role.SYSADMIN: ("district", "street"),
    Role.SECADMIN: ("district", "street"),
    Role.AUDITOR: ("district", "street"),
}
