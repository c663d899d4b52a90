"""This app's entries in the staff navigation (see jiedao.front.navigation)."""

from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import Cap
from jiedao.front.navigation import NavItem

NAV_ITEMS: list[NavItem] = [
    NavItem("records", _("工作记录"), "records:index", frozenset({Cap.BUSINESS_READ})),
    NavItem("indicators", _("经济指标"), "records:indicator_list",
            frozenset({Cap.BUSINESS_READ, Cap.DISTRICT_STATS})),
]
