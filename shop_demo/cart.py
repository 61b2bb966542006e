"""The shopping cart, kept in the customer's Django session.

Pure functions over the session mapping: the cart is `{product_id (str): quantity (int)}` under
`CART_KEY`. Every write assigns a new dict rather than mutating the stored one, so a Django
session notices the change (`SessionBase.__setitem__` marks it modified) and a plain dict works
the same in tests. Prices are never stored in the cart; they are read from the catalogue when
the cart is shown, so a cart always shows current prices.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Product

CART_KEY = "shop_cart"
MAX_QUANTITY = 99


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


def cart_items(session: Mapping[str, Any]) -> dict[int, int]:
    """Product id to quantity, ignoring anything malformed an older version may have left."""
    raw = session.get(CART_KEY)
    if not isinstance(raw, dict):
        return {}
    items: dict[int, int] = {}
    for key, quantity in raw.items():
        if str(key).isdigit() and isinstance(quantity, int) and quantity > 0:
            items[int(key)] = min(quantity, MAX_QUANTITY)
    return items


def cart_count(session: Mapping[str, Any]) -> int:
    """How many articles are in the cart (the number next to "Cart" in the nav)."""
    return sum(cart_items(session).values())


def _store(session: MutableMapping[str, Any], items: Mapping[int, int]) -> None:
    session[CART_KEY] = {str(pk): quantity for pk, quantity in items.items() if quantity > 0}


def cart_add(session: MutableMapping[str, Any], *, product_id: int, quantity: int = 1) -> int:
    """Add `quantity` of a product; the line is capped at `MAX_QUANTITY`. Returns the line's
    new quantity."""
    items = cart_items(session)
    items[product_id] = min(items.get(product_id, 0) + max(quantity, 0), MAX_QUANTITY)
    _store(session, items)
    return items[product_id]


def cart_set_quantity(session: MutableMapping[str, Any], *, product_id: int, quantity: int) -> None:
    """Set a line's quantity; zero (or less) removes the line."""
    items = cart_items(session)
    if quantity > 0:
        items[product_id] = min(quantity, MAX_QUANTITY)
    else:
        items.pop(product_id, None)
    _store(session, items)


def cart_remove(session: MutableMapping[str, Any], *, product_id: int) -> None:
    cart_set_quantity(session, product_id=product_id, quantity=0)


def cart_clear(session: MutableMapping[str, Any]) -> None:
    session.pop(CART_KEY, None)


def cart_lines(session: Mapping[str, Any], *, products: Mapping[int, Product]) -> list[Line]:
    """The cart joined with the catalogue, in cart order. Products that no longer exist are
    left out."""
    return [
        Line(product=products[pk], quantity=quantity)
        for pk, quantity in cart_items(session).items()
        if pk in products
    ]


def cart_total(lines: list[Line]) -> Decimal:
    return sum((line.total for line in lines), Decimal("0.00"))


FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING_FEE = Decimal("4.90")


def shipping_for(subtotal: Decimal) -> Decimal:
    """Flat shipping, free from `FREE_SHIPPING_FROM` and for an empty cart."""
    if subtotal == 0 or subtotal >= FREE_SHIPPING_FROM:
        return Decimal("0.00")
    return SHIPPING_FEE
