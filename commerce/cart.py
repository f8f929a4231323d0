"""The customer's cart: lines priced from the catalog, and order limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from commerce.catalog import Catalog, Product
from commerce.quantity import AT_LEAST_ONE

MAX_QUANTITY_PER_ITEM = 20
MAX_LINES = 15


class CartError(ValueError):
    """A change the customer asked for that the cart refuses. `reason` (one of the
    constants below) and `values` let an action choose the reply; the message is for logs."""

    def __init__(self, reason: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


# Why a change was refused.
BELOW_ONE = "below_one"
BELOW_ZERO = "below_zero"
OVER_ITEM_LIMIT = "over_item_limit"
CART_FULL = "cart_full"


@dataclass(frozen=True)
class CartLine:
    sku: str
    name: str
    unit_price: int  # paise
    quantity: int

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


class Cart:
    def __init__(self, lines: Iterable[CartLine] = ()) -> None:
        self._lines: dict[str, CartLine] = {}  # by sku, in the order first added
        for line in lines:
            if line.sku in self._lines:
                raise ValueError(f"sku {line.sku!r} appears twice in the cart lines")
            self._check(line.name, line.quantity, is_new=True)
            self._lines[line.sku] = line

    @classmethod
    def from_slot(cls, value: list[dict[str, Any]] | None, catalog: Catalog) -> Cart:
        """Rebuild the cart from the `cart` slot; names and prices always come from the catalog."""
        cart = cls()
        for item in value if isinstance(value, list) else []:
            if not isinstance(item, dict):
                continue
            product = catalog.get(item.get("sku")) if isinstance(item.get("sku"), str) else None
            quantity = _whole_number(item.get("quantity"))
            if product is None or quantity is None:
                continue  # a product dropped from the catalog, or a slot someone tampered with
            try:
                cart.add(product, quantity)
            except CartError:
                continue
        return cart

    def to_slot(self) -> list[dict[str, Any]]:
        # Only sku and quantity: a price kept in the tracker could be stale or edited.
        return [{"sku": line.sku, "quantity": line.quantity} for line in self._lines.values()]

    @property
    def lines(self) -> list[CartLine]:
        return list(self._lines.values())

    def get(self, sku: str) -> CartLine | None:
        return self._lines.get(sku)

    def add(self, product: Product, quantity: int = 1) -> CartLine:
        """Add to the product's line (or start one); CartError leaves the cart unchanged."""
        count = _whole_number(quantity)
        if count is None or count < 1:
            raise CartError(BELOW_ONE, AT_LEAST_ONE)
        existing = self._lines.get(product.sku)
        return self._put(product, count + (existing.quantity if existing else 0))

    def set_quantity(self, product: Product, quantity: int) -> CartLine | None:
        """Make the product's quantity exactly `quantity`; 0 removes the line."""
        count = _whole_number(quantity)
        if count is None or count < 0:
            raise CartError(BELOW_ZERO, "Please choose a quantity of 0 or more.")
        if count == 0:
            self.remove(product.sku)
            return None
        return self._put(product, count)

    def remove(self, sku: str) -> CartLine | None:
        return self._lines.pop(sku, None)

    def clear(self) -> None:
        self._lines.clear()

    @property
    def total(self) -> int:
        return sum(line.line_total for line in self._lines.values())

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self._lines.values())

    @property
    def is_empty(self) -> bool:
        return not self._lines

    def _put(self, product: Product, quantity: int) -> CartLine:
        self._check(product.name, quantity, is_new=product.sku not in self._lines)
        # The catalog's current name and price win over what the line held; the line keeps
        # its place because re-assigning a dict key doesn't move it.
        line = CartLine(product.sku, product.name, product.price, quantity)
        self._lines[product.sku] = line
        return line

    def _check(self, name: str, quantity: int, is_new: bool) -> None:
        if quantity < 1:
            raise CartError(BELOW_ONE, AT_LEAST_ONE)
        if quantity > MAX_QUANTITY_PER_ITEM:
            raise CartError(
                OVER_ITEM_LIMIT,
                f"You can order at most {MAX_QUANTITY_PER_ITEM} of {name}.",
                product=name,
                limit=MAX_QUANTITY_PER_ITEM,
            )
        if is_new and len(self._lines) >= MAX_LINES:
            raise CartError(
                CART_FULL,
                f"Your cart can hold at most {MAX_LINES} different products.",
                limit=MAX_LINES,
            )


def _whole_number(value: Any) -> int | None:
    # JSON from the tracker may turn 2 into 2.0; True is not a quantity.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
