"""The catalog's value types: a product, what a mention matched, and where it was written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: int  # paise
    category: str
    also_called: tuple[str, ...] = ()
    about: str | None = None  # what's in it, what it's like: shown when customers ask
    in_stock: bool = True

    def __post_init__(self) -> None:
        # Checked here so no code path can build a product that would break pricing.
        for field in ("sku", "name", "category"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{field} must be a non-empty text")
        if isinstance(self.price, bool) or not isinstance(self.price, int) or self.price <= 0:
            raise ValueError(f"price must be a positive number of paise, got {self.price!r}")
        if not all(isinstance(alias, str) and alias.strip() for alias in self.also_called):
            raise ValueError("also_called must be a list of non-empty names")


@dataclass(frozen=True)
class Match:
    product: Product | None  # set when the mention resolves to exactly one product
    candidates: tuple[Product, ...] = ()  # 2+ when ambiguous; empty when nothing matched

    @property
    def is_ambiguous(self) -> bool:
        return self.product is None and len(self.candidates) > 1

    @property
    def found(self) -> bool:
        return self.product is not None


NO_MATCH = Match(product=None)


@dataclass(frozen=True)
class Mention:
    text: str  # the words in the message that named the product
    quantity: int | None  # quantity written next to it, None when none was written
    match: Match
    start: int  # character offset in the message
