"""Helpers of the ``jiedao import`` and ``jiedao export`` commands."""

from django.core.management.base import CommandError

from jiedao.accounts.access import has_cap
from jiedao.accounts.models import User
from jiedao.core.models import OrgUnit


def resolve_unit(code: str) -> OrgUnit:
    unit = OrgUnit.objects.filter(code=code, is_active=True).first()
    if unit is None and "/" in code:  # "360103012/经济发展办"
        street, name = code.split("/", 1)
        unit = OrgUnit.objects.filter(parent__code=street, name=name, is_active=True).first()
    if unit is None:
        raise CommandError(f"找不到单位“{code}”(填区划代码,如 360103012;科室写作 360103012/经济发展办)")
    return unit


def resolve_user(username: str | None, unit: OrgUnit, cap: str):
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None or not has_cap(user, cap, unit):
        raise CommandError(f"用户“{username}”不存在或在“{unit.name}”没有相应权限")
    return user
