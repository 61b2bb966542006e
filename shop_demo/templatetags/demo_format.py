"""Money formatting for the demo sites' templates."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()

MINUS = "\u2212"


@register.filter
def eur(value: Decimal | str | int | None) -> str:
    """`Decimal("1234.5")` -> "€1,234.50"; negative amounts get a typographic minus sign."""
    if value in (None, ""):
        return ""
    amount = Decimal(str(value))
    sign = MINUS if amount < 0 else ""
    return f"{sign}€{abs(amount):,.2f}"


@register.filter
def signed_eur(value: Decimal | str | int) -> str:
    """Like `eur`, with a plus sign on money in, as bank statements print it."""
    amount = Decimal(str(value))
    return f"+{eur(amount)}" if amount > 0 else eur(amount)
