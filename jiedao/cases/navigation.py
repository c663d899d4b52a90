"""This app's entries in the staff navigation (see jiedao.front.navigation)."""

from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import Cap
from jiedao.front.navigation import NavItem

NAV_ITEMS: list[NavItem] = [
    NavItem("cases", _("工单"), "cases:case_list", frozenset({Cap.BUSINESS_READ, Cap.FULFIL_ORDERS})),
    NavItem("supervision", _("督办"), "cases:supervision", frozenset({Cap.SUPERVISE, Cap.BUSINESS_READ})),
]
