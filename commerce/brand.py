"""The shop's brand as the responses' slots: name, tagline and emoji from shop.yml,
and the products the bot's examples name ("2 masala chai and 1 mug") from catalog.yml,
so a merchant's own shop speaks of its own products without editing domain.yml.
"""

from __future__ import annotations

import logging
import re

from commerce.catalog import Catalog, Product
from commerce.shop import Shop

logger = logging.getLogger(__name__)

DEFAULT_EMOJI = "🛍️"
# A pack size or count at the end of a name: "250 g", "1.5 kg", "Set of 6", "Pack of 12".
_PACK = re.compile(
    r"\s+(\d+(\.\d+)?\s*(g|gm|kg|ml|l|ltr|pcs?)|(set|pack|box) of \d+)$", re.IGNORECASE
)
SHORT_WORDS = 2  # "masala chai", "gift box": what customers type


def spoken_name(product: Product) -> str:
    """What a customer would type for a product: its name without the pack size when
    that is short, else its first short other name in Latin letters."""
    name = _PACK.sub("", product.name).strip().lower()
    if len(name.split()) <= SHORT_WORDS:
        return name
    short = [a for a in product.also_called if a.isascii() and len(a.split()) <= SHORT_WORDS]
    return short[0].lower() if short else name


def example_products(shop: Shop, catalog: Catalog) -> tuple[Product, Product]:
    """The two products examples name: shop.yml's `examples`, else the catalog's first
    product and the first of its last category (a different kind of thing)."""
    unknown = [sku for sku in shop.examples if catalog.get(sku) is None]
    if unknown:
        logger.warning("shop.yml examples %s are not in the catalog: using its own", unknown)
    found = [p for p in map(catalog.get, shop.examples) if p is not None]
    groups = list(catalog.by_category().values())
    fallback = [groups[0][0], groups[-1][0] if len(groups) > 1 else groups[0][-1]]
    for product in fallback:
        if len(found) < 2 and product not in found:
            found.append(product)
    return found[0], found[-1]


_last: tuple[Shop, Catalog, dict[str, str]] | None = None


def brand_slots(shop: Shop, catalog: Catalog) -> dict[str, str]:
    """The values of the brand slots (domain.yml) for this shop and catalog; worked out
    (and warned about) once per version of the files, which their loaders cache."""
    global _last
    if _last is not None and _last[0] is shop and _last[1] is catalog:
        return dict(_last[2])
    slots = _brand_slots(shop, catalog)
    _last = (shop, catalog, slots)
    return dict(slots)


def _brand_slots(shop: Shop, catalog: Catalog) -> dict[str, str]:
    if not shop.name:
        logger.warning("no shop name (is SHOP_FILE a shop.yml?): greetings name no shop")
    product, addon = example_products(shop, catalog)
    return {
        "shop_name": shop.name or "",
        "shop_tagline": shop.tagline or " · ".join(catalog.by_category()),
        "shop_emoji": shop.emoji or DEFAULT_EMOJI,
        "example_product": spoken_name(product),
        "example_addon": spoken_name(addon),
    }
