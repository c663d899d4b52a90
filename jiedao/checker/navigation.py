"""This app's entries in the staff navigation (see jiedao.front.navigation)."""

from django.utils.translation import gettext_lazy as _

from jiedao.accounts.roles import Cap
from jiedao.front.navigation import NavItem

NAV_ITEMS: list[NavItem] = [
    # Any staff member who reads business data may check a text, and so may the sysadmin who
    # keeps the lexicon (to try it out); checking reads no records.
    NavItem("checker", _("报告校对"), "checker:check", frozenset({Cap.BUSINESS_READ, Cap.CONFIG})),
    NavItem("checker_lexicon", _("敏感词库"), "checker:lexicon", frozenset({Cap.CONFIG})),
]
