"""The merchant's own facts (shop.yml): the brand (name, tagline, emoji, the products
named in examples), cash on delivery, delivery areas and days, shipping fee, returns,
discount codes, support hours and contact.

Every field but the name is optional: a missing one is None (or empty), and the bot
then says it doesn't know rather than guessing. SHOP_FILE points to another file; the
file is re-read when it changes, so a merchant's edit needs no restart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from commerce.files import ParsedFiles
from commerce.money import rupees_to_paise
from commerce.text import key

DEFAULT_SHOP_PATH = Path(__file__).resolve().parent.parent / "shop.yml"
EMOJI_LIMIT = 8  # characters: one emoji, perhaps with a skin tone or a joiner
TAGLINE_LIMIT = 120  # characters: one line under the name in the greeting


class ShopError(ValueError):
    """shop.yml can't be used; the message names the file and the bad field."""


@dataclass(frozen=True)
class Area:
    name: str
    pin_prefixes: tuple[str, ...] = ()
    days: str | None = None
    also_called: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.also_called)


@dataclass(frozen=True)
class Discount:
    code: str
    percent: int | None = None
    amount: int | None = None  # paise off
    min_order: int | None = None  # paise


@dataclass(frozen=True)
class Shop:
    name: str | None = None
    tagline: str | None = None  # None: the catalog's categories
    emoji: str | None = None
    examples: tuple[str, ...] = ()  # skus of the products examples name
    cash_on_delivery: bool | None = None
    areas: tuple[Area, ...] = ()
    elsewhere_days: str | None = None  # None: only the areas above
    delivery_known: bool = False  # the file has a delivery section at all
    shipping_fee: int | None = None  # paise
    free_shipping_above: int | None = None  # paise
    returns_accepted: bool | None = None
    returns_within_days: int | None = None
    returns_note: str | None = None
    discounts: tuple[Discount, ...] | None = None  # None: the file doesn't say
    support_hours: str | None = None
    support_phone: str | None = None
    support_email: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def area_for_pincode(self, pincode: str) -> Area | None:
        return next(
            (a for a in self.areas if any(pincode.startswith(p) for p in a.pin_prefixes)), None
        )

    def area_named_in(self, text: str) -> Area | None:
        """The delivery area a message names ("do u deliver in pune??"), or None."""
        padded = f" {key(text)} "
        for area in self.areas:
            for name in area.names():
                if key(name) and f" {key(name)} " in padded:
                    return area
        return None

    @property
    def delivers_elsewhere(self) -> bool:
        return self.elsewhere_days is not None


def _text(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ShopError(f"{label} must be text")
    text = str(value).strip()
    return text or None


def _line(value: Any, label: str, limit: int) -> str | None:
    text = _text(value, label)
    if text is not None and ("\n" in text or len(text) > limit):
        raise ShopError(f"{label} must be one line of at most {limit} characters")
    return text


def _skus(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 2:
        raise ShopError("examples must be a list of one or two product skus from the catalog")
    skus = [_text(sku, "examples") for sku in value]
    return tuple(sku for sku in skus if sku)


def _paise(value: Any, label: str) -> int | None:
    if value is None:
        return None
    try:
        amount = rupees_to_paise(value)
    except ValueError as err:
        raise ShopError(f"{label}: amount in rupees: {err}") from None
    if amount < 0:
        raise ShopError(f"{label} can't be negative")
    return amount


def _bool(value: Any, label: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ShopError(f"{label} must be true or false")


def _mapping(value: Any, label: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ShopError(f"{label} must be a mapping")
    return value


def _area(entry: Any, number: int) -> Area:
    label = f"delivery.areas #{number}"
    entry = _mapping(entry, label)
    name = _text(entry.get("name"), f"{label}.name")
    if not name:
        raise ShopError(f"{label}: needs a name")
    prefixes = [str(p).strip() for p in entry.get("pin_prefixes") or []]
    if not all(re.fullmatch(r"[1-9]\d{0,5}", p) for p in prefixes):
        raise ShopError(f"{label}: pin_prefixes are the first digits of PIN codes, e.g. '560'")
    also = [str(a) for a in entry.get("also_called") or []]
    return Area(name, tuple(prefixes), _text(entry.get("days"), f"{label}.days"), tuple(also))


def _discount(entry: Any, number: int) -> Discount:
    label = f"discounts #{number}"
    entry = _mapping(entry, label)
    code = _text(entry.get("code"), f"{label}.code")
    if not code:
        raise ShopError(f"{label}: needs a code")
    percent = entry.get("percent")
    if percent is not None and (
        isinstance(percent, bool) or not isinstance(percent, int) or not 0 < percent <= 100
    ):
        raise ShopError(f"{label}.percent must be a whole number from 1 to 100")
    return Discount(
        code=code,
        percent=percent,
        amount=_paise(entry.get("amount"), f"{label}.amount"),
        min_order=_paise(entry.get("min_order"), f"{label}.min_order"),
    )


def parse_shop(data: Any) -> Shop:
    data = _mapping(data, "the file")
    delivery = _mapping(data.get("delivery"), "delivery")
    shipping = _mapping(data.get("shipping"), "shipping")
    returns = _mapping(data.get("returns"), "returns")
    support = _mapping(data.get("support"), "support")
    discounts = data.get("discounts")
    if discounts is not None and not isinstance(discounts, list):
        raise ShopError("discounts must be a list (empty when there are none)")
    within = returns.get("within_days")
    if within is not None and (isinstance(within, bool) or not isinstance(within, int)):
        raise ShopError("returns.within_days must be a whole number of days")
    shop = Shop(
        name=_text(data.get("name"), "name"),
        tagline=_line(data.get("tagline"), "tagline", TAGLINE_LIMIT),
        emoji=_line(data.get("emoji"), "emoji", EMOJI_LIMIT),
        examples=_skus(data.get("examples")),
        cash_on_delivery=_bool(data.get("cash_on_delivery"), "cash_on_delivery"),
        areas=tuple(_area(a, n) for n, a in enumerate(delivery.get("areas") or [], 1)),
        elsewhere_days=_text(delivery.get("elsewhere_days"), "delivery.elsewhere_days"),
        delivery_known="delivery" in data,
        shipping_fee=_paise(shipping.get("fee"), "shipping.fee"),
        free_shipping_above=_paise(shipping.get("free_above"), "shipping.free_above"),
        returns_accepted=_bool(returns.get("accepted"), "returns.accepted"),
        returns_within_days=within,
        returns_note=_text(returns.get("note"), "returns.note"),
        discounts=None
        if discounts is None
        else tuple(_discount(d, n) for n, d in enumerate(discounts, 1)),
        support_hours=_text(support.get("hours"), "support.hours"),
        support_phone=_text(support.get("phone"), "support.phone"),
        support_email=_text(support.get("email"), "support.email"),
    )
    if not shop.name:
        raise ShopError("name: the shop's name is needed (the bot greets customers with it)")
    return shop


def shop_path() -> Path:
    return Path(os.environ.get("SHOP_FILE") or DEFAULT_SHOP_PATH).expanduser().resolve()


def load_shop(path: str | os.PathLike[str] | None = None) -> Shop:
    """The shop's facts; a missing file is a shop that says nothing (every answer: ask a
    person). Re-read only when the file changed."""
    resolved = Path(path).expanduser().resolve() if path else shop_path()
    try:
        return _shops.get(resolved)
    except OSError:
        return Shop()


def _read(path: Path) -> Shop:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ShopError(f"{path}: can't be read as YAML: {err}") from None
    try:
        return parse_shop(data)
    except ShopError as err:
        raise ShopError(f"{path}: {err}") from None


_shops: ParsedFiles[Shop] = ParsedFiles(_read)
