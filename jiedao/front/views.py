"""The staff front: 工作台 and the organisation tree.

Every unit is reached through the access layer; "missing" and "out of scope" are the same 404.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import ORG_CAPS, has_cap, units_visible
from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.core.models import OrgUnit, OrgUnitKind

from .navigation import items_for

# Siblings in the tree: communities before departments, then by region code and name.
KIND_ORDER = {
    OrgUnitKind.DISTRICT: 0,
    OrgUnitKind.STREET: 1,
    OrgUnitKind.COMMUNITY: 2,
    OrgUnitKind.GRID: 3,
    OrgUnitKind.DEPARTMENT: 4,
}

# What each 工作台 card says about the page the navigation offers; keyed by NavItem.key.
CARD_TEXT = {
    "cases": _("受理、派单、签收、办结、回访:待派单、我的待办、即将到期与已超期"),
    "supervision": _("督办与超期工单,领导包案责任清单"),
    "ledgers": _("服务对象、企业、楼宇、重大项目、征收拆迁台账,Excel 导入导出"),
    "integrity": _("干部廉政档案:一人一档、全程留痕"),
    "records": _("工作量、会议议事、走访慰问、消防安全排查、工作计划"),
    "indicators": _("经济指标目标、累计完成、同比与全区排名"),
    "checker": _("校对工作总结:分项合计、比例、受理办结、敏感词与编辑标记"),
    "checker_lexicon": _("管理敏感词库,导入词表"),
    "org": _("查看本单位及下属社区、网格、科室的组织架构"),
    "users": _("新建账号、解锁、停用与重置密码"),
    "memberships": _("按单位授予或撤销角色(三员分立)"),
    "audit": _("查询和核验不可篡改的审计日志"),
    "admin": _("组织单位等系统配置"),
}


def _require_org_access(user) -> None:
    if not any(has_cap(user, cap) for cap in ORG_CAPS):
        raise Http404


def access_org_unit(user, pk: int) -> OrgUnit:
    """One unit in scope of any organisation capability, else 404 (absent looks the same)."""
    try:
        return units_visible(user).get(pk=pk)
    except OrgUnit.DoesNotExist:
        raise Http404 from None


@login_required
def home(request):
    user = request.user
    memberships = (
        Membership.objects.filter(user=user).select_related("unit").order_by("unit__path", "role")
    )
    cards = [
        {**item, "text": CARD_TEXT.get(item["key"], "")}
        for item in items_for(user)
        if item["key"] != "home"
    ]
    return render(request, "front/home.html", {
        "memberships": memberships,
        "cards": cards,
        "nav_current": "home",
    })


@dataclass
class _Node:
    unit: OrgUnit
    children: list[_Node] = field(default_factory=list)


def _flatten_tree(units: list[OrgUnit]) -> list[tuple[OrgUnit, int]]:
    """Units in tree order with their depth below the highest visible unit."""
    nodes = {u.pk: _Node(u) for u in units}
    roots: list[_Node] = []
    for node in nodes.values():
        parent = nodes.get(node.unit.parent_id) if node.unit.parent_id else None
        (parent.children if parent else roots).append(node)

    def key(node: _Node):
        return (KIND_ORDER.get(node.unit.kind, 9), node.unit.code or "~", node.unit.name)

    rows: list[tuple[OrgUnit, int]] = []

    def walk(node: _Node, depth: int) -> None:
        rows.append((node.unit, depth))
        for child in sorted(node.children, key=key):
            walk(child, depth + 1)

    for root in sorted(roots, key=key):
        walk(root, 0)
    return rows


@login_required
def org_tree(request):
    _require_org_access(request.user)
    units = list(units_visible(request.user).filter(is_active=True))
    rows = _flatten_tree(units)
    kinds = Counter(unit.kind for unit in units)
    summary = [
        (label, kinds[value]) for value, label in OrgUnitKind.choices if kinds.get(value)
    ]
    return render(request, "front/org_tree.html", {
        "rows": rows,
        "summary": summary,
        "nav_current": "org",
    })


@login_required
def org_unit(request, pk: int):
    _require_org_access(request.user)
    unit = access_org_unit(request.user, pk)
    visible_ids = set(units_visible(request.user).values_list("pk", flat=True))
    ancestors = list(unit.ancestors())
    children = sorted(
        (c for c in unit.children.all() if c.pk in visible_ids),
        key=lambda c: (KIND_ORDER.get(c.kind, 9), c.code or "~", c.name),
    )
    direct = {
        row["role"]: row["n"]
        for row in Membership.objects.filter(unit=unit).values("role").annotate(n=Count("pk"))
    }
    role_counts = [(label, direct[value]) for value, label in Role.choices if direct.get(value)]
    subtree_members = (
        Membership.objects.filter(unit__path__startswith=unit.path)
        .values("user").distinct().count()
    )
    home_users = User.objects.filter(home_unit=unit, is_active=True).count()
    return render(request, "front/org_unit.html", {
        "unit": unit,
        "ancestors": [(a, a.pk in visible_ids) for a in ancestors],
        "children": children,
        "role_counts": role_counts,
        "direct_members": sum(direct.values()),
        "subtree_members": subtree_members,
        "home_users": home_users,
        "nav_current": "org",
    })


def favicon(request):
    """/favicon.ico for clients that ask without reading the pages' icon link."""
    return redirect(static("jiedao/favicon.svg"))


def healthz(request):
    """Liveness for the operator's monitor (and the benchmarks' framework ceiling): no database."""
    return HttpResponse("ok", content_type="text/plain")


def csrf_failure(request, reason: str = ""):
    """A form that expired or came from elsewhere: say so in Chinese, with a way back."""
    return render(request, "csrf_failure.html", {"reason": reason}, status=403)
