"""The staff navigation, by capability: each role sees only what it may open."""

from dataclasses import dataclass
from functools import cache
from importlib import import_module

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from jiedao.accounts.access import capabilities
from jiedao.accounts.roles import Cap


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url_name: str
    caps: frozenset[str]  # any one of them shows the item; empty = every signed-in user


NAV: list[NavItem] = [
    NavItem("home", _("工作台"), "front:home", frozenset()),
    NavItem("org", _("组织架构"), "front:org_tree",
            frozenset({Cap.BUSINESS_READ, Cap.CONFIG, Cap.ROLES, Cap.USERS})),
    NavItem("users", _("账号管理"), "accounts:user_list", frozenset({Cap.USERS})),
    NavItem("memberships", _("角色授权"), "accounts:membership_list", frozenset({Cap.ROLES})),
    NavItem("audit", _("审计日志"), "audit:event_list", frozenset({Cap.AUDIT})),
    NavItem("admin", _("系统配置"), "admin:index", frozenset({Cap.CONFIG, Cap.ROLES})),
]


# Business apps add their own entries (``<app>/navigation.py``), shown after the home page.
NAV_APPS = ("cases", "ledgers", "records", "checker")


@cache
def all_items() -> list[NavItem]:
    extra = [item for app in NAV_APPS for item in import_module(f"jiedao.{app}.navigation").NAV_ITEMS]
    return NAV[:1] + extra + NAV[1:]


def items_for(user) -> list[dict]:
    if not user.is_authenticated:
        return []
    caps = capabilities(user)
    return [
        {"key": item.key, "label": item.label, "url": reverse(item.url_name)}
        for item in all_items()
        if not item.caps or item.caps & caps
    ]
