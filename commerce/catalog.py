"""The product catalog: loaded from catalog.yml, validated, and searchable by what customers say."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from commerce.files import ParsedFiles
from commerce.matching import ProductIndex
from commerce.mentions import find_mentions
from commerce.money import rupees_to_paise
from commerce.products import NO_MATCH, Match, Mention, Product
from commerce.text import key, words

__all__ = ["Catalog", "CatalogError", "Match", "Mention", "Product", "load_catalog"]

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog.yml"
CURRENCY = "INR"
_FIELDS = {"sku", "name", "price", "category", "also_called", "about", "in_stock"}
_OPTIONAL = {"also_called", "about", "in_stock"}


class CatalogError(ValueError):
    """The catalog file can't be used; the message names the file and the bad entry."""


class Catalog:
    def __init__(self, products: Iterable[Product]) -> None:
        self.products: tuple[Product, ...] = tuple(products)
        _check_unique(self.products)
        self._by_sku = {product.sku: product for product in self.products}
        self._by_lower_sku = {product.sku.lower(): product for product in self.products}
        self._index = ProductIndex(self.products)

    def get(self, sku: str) -> Product | None:
        return self._by_sku.get(sku)

    def by_category(self) -> dict[str, list[Product]]:
        """Products grouped by category, categories in file order."""
        groups: dict[str, list[Product]] = {}
        for product in self.products:
            groups.setdefault(product.category, []).append(product)
        return groups

    def resolve(self, mention: str) -> Match:
        """The product a customer meant by `mention`, the candidates if unclear, or no match."""
        if not isinstance(mention, str):  # an unfilled entity or slot
            return NO_MATCH
        product = self._by_lower_sku.get(mention.strip().lower())
        if product is not None:
            return Match(product=product)
        return self._index.lookup(words(mention))

    def find_in_text(self, text: str) -> list[Mention]:
        """Every product named in a message, in order, with the quantity written beside it."""
        return find_mentions(text, self._index)

    def names(self) -> list[str]:
        """Every name and alias, as written in the catalog, without repeats."""
        names = (name for product in self.products for name in (product.name, *product.also_called))
        return list(dict.fromkeys(names))


def _check_unique(products: tuple[Product, ...]) -> None:
    if not products:
        raise CatalogError("the catalog has no products")
    skus: set[str] = set()
    names: dict[str, str] = {}
    for product in products:
        if product.sku.lower() in skus:
            raise CatalogError(f"sku {product.sku!r} is used by more than one product")
        skus.add(product.sku.lower())
        for name in (product.name, *product.also_called):
            if not key(name):
                raise CatalogError(f"{product.sku}: {name!r} has no words a customer could type")
        name_key = key(product.name)
        if name_key in names:
            raise CatalogError(
                f"{product.sku}: name {product.name!r} is the same as {names[name_key]}'s"
            )
        names[name_key] = product.sku


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load (and validate) the catalog; re-read only when the file changed since last time."""
    chosen = path or os.environ.get("CATALOG_PATH") or DEFAULT_CATALOG_PATH
    resolved = Path(chosen).expanduser().resolve()
    try:
        return _catalogs.get(resolved)
    except OSError as err:
        raise CatalogError(f"can't read the catalog {resolved}: {err.strerror}") from None


def _read(path: Path) -> Catalog:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CatalogError(f"{path}: can't be read as YAML: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise CatalogError(f"{path}: expected a 'products:' list at the top level")
    currency = data.get("currency", CURRENCY)
    if currency != CURRENCY:
        raise CatalogError(f"{path}: currency must be {CURRENCY}, not {currency!r}")
    try:
        return Catalog(_product(entry, number) for number, entry in enumerate(data["products"], 1))
    except CatalogError as err:
        raise CatalogError(f"{path}: {err}") from None


def _product(entry: Any, number: int) -> Product:
    label = f"product #{number}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{label}: expected sku, name, price and category")
    if entry.get("sku"):
        label += f" ({entry['sku']})"
    unknown = sorted(set(map(str, entry)) - _FIELDS)
    if unknown:
        raise CatalogError(f"{label}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(field for field in _FIELDS - _OPTIONAL if entry.get(field) is None)
    if missing:
        raise CatalogError(f"{label}: missing {', '.join(missing)}")
    also_called = entry.get("also_called") or []
    if not isinstance(also_called, list):
        raise CatalogError(f"{label}: also_called must be a list of names")
    try:
        price = rupees_to_paise(entry["price"])
    except ValueError as err:
        raise CatalogError(f"{label}: price in rupees: {err}") from None
    if price <= 0:
        raise CatalogError(f"{label}: price must be more than ₹0")
    in_stock = entry.get("in_stock", True)
    if not isinstance(in_stock, bool):
        raise CatalogError(f"{label}: in_stock must be true or false")
    about = entry.get("about")
    if about is not None and not isinstance(about, str):
        raise CatalogError(f"{label}: about must be text")
    try:
        return Product(
            sku=entry["sku"],
            name=entry["name"],
            price=price,
            category=entry["category"],
            also_called=tuple(also_called),
            about=about.strip() if about else None,
            in_stock=in_stock,
        )
    except ValueError as err:
        raise CatalogError(f"{label}: {err}") from None


_catalogs: ParsedFiles[Catalog] = ParsedFiles(_read)
