"""This app's entries in the staff navigation (see jiedao.front.navigation)."""

from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import Cap
from jiedao.front.navigation import NavItem

NAV_ITEMS: list[NavItem] = [
    NavItem("ledgers", _("台账"), "ledgers:index", frozenset({Cap.BUSINESS_READ})),
    NavItem("integrity", _("廉政档案"), "ledgers:integrity_list", frozenset({Cap.INTEGRITY})),
]
