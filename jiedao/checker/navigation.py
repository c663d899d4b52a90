"""This app's entries in the staff navigation (see jiedao.front.navigation)."""

from jiedao.front.navigation import NavItem  # noqa: F401

NAV_ITEMS: list[NavItem] = []
