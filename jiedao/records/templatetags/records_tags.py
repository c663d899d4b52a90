"""Figures on the work-record pages: Decimals without trailing zeros, "—" when unknown."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def figure(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return format(value.normalize(), ",f")
    return str(value)


@register.filter
def percent(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{value:.2f}%"
