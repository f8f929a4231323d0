"""What every action shares: the catalog, the cart slot, the order store, and the values
(prices, item lines) that actions pass to the responses in domain.yml."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from commerce.cart import Cart, CartLine
from commerce.catalog import Catalog, Mention, load_catalog
from commerce.money import format_inr
from commerce.quantity import parse_quantity
from orders.store import OrderItem, OrderStore, get_store

Button = dict[str, str]


def catalog() -> Catalog:
    return load_catalog()


def store() -> OrderStore:
    return get_store()


def cart_of(tracker: Tracker) -> Cart:
    """The customer's cart, priced from the catalog (the slot holds only skus and quantities)."""
    return Cart.from_slot(tracker.get_slot("cart"), catalog())


def cart_events(cart: Cart) -> list[SlotSet]:
    return [SlotSet("cart", cart.to_slot()), SlotSet("cart_has_items", not cart.is_empty)]


def button(title: str, payload: str) -> Button:
    return {"title": title, "payload": payload}


def payload(intent: str, **entities: Any) -> str:
    """A button payload that Rasa understands without NLU: /intent{"entity": value}."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False, separators=(',', ':'))}"


def item_lines(items: Iterable[OrderItem | CartLine]) -> list[str]:
    """"2 × Masala Chai 250g — ₹598" per line: numbers and names read the same in every
    language, so actions write them and the responses put words around them."""
    return [f"{item.quantity} × {item.name} — {format_inr(item.line_total)}" for item in items]


def cart_values(cart: Cart) -> dict[str, str]:
    """The `{items}` and `{total}` of the cart responses."""
    return {"items": "\n".join(item_lines(cart.lines)), "total": format_inr(cart.total)}


def quoted(words: Iterable[str]) -> str:
    """“chai”, “mug”: what the customer wrote, for a response to quote."""
    return ", ".join(f"“{word}”" for word in words)


def mentions_in(tracker: Tracker) -> list[Mention]:
    """The products the latest message names, each with the quantity written beside it.

    Button payloads carry exact entities; typed text is scanned against the catalog
    (typos, synonyms, Hindi words), and NLU entities are the fallback for wordings
    the scanner does not catch.
    """
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    entities = message.get("entities") or []
    shop = catalog()
    if not text.startswith("/"):
        found = shop.find_in_text(text)
        if found:
            return found
    products = sorted(
        (e for e in entities if e.get("entity") == "product"), key=lambda e: e.get("start") or 0
    )
    quantities = [e for e in entities if e.get("entity") == "quantity"]
    mentions = []
    for index, entity in enumerate(products):
        value = str(entity.get("value") or "")
        quantity = _quantity_for(entity, index, products, quantities)
        mentions.append(Mention(value, quantity, shop.resolve(value), entity.get("start") or 0))
    return mentions


def _quantity_for(
    product: dict, index: int, products: list[dict], quantities: list[dict]
) -> int | None:
    # Payload entities have no positions: one product takes the one quantity.
    if product.get("start") is None:
        return parse_quantity(quantities[0]["value"]) if len(quantities) == 1 else None
    # Typed text: the quantity written before the product wins ("2 chai"), else the one
    # right after it ("chai 2"), never one that belongs to a neighbour.
    previous_end = products[index - 1]["end"] if index else -1
    next_start = products[index + 1]["start"] if index + 1 < len(products) else 10**9
    before = [q for q in quantities if previous_end <= (q.get("start") or 0) < product["start"]]
    after = [q for q in quantities if product["end"] <= (q.get("start") or 0) < next_start]
    for candidate in before[-1:] + after[:1]:
        quantity = parse_quantity(candidate.get("value"))
        if quantity is not None:
            return quantity
    return None


def quantity_in(tracker: Tracker) -> int | None:
    """The first quantity the latest message states, as an entity or a bare number."""
    message = tracker.latest_message or {}
    for entity in message.get("entities") or []:
        if entity.get("entity") == "quantity":
            quantity = parse_quantity(entity.get("value"))
            if quantity is not None:
                return quantity
    # "a"/"an" and "do" (Hindi "two", but also the verb in "kar do") are too ambiguous
    # to read as a number without NLU's help.
    words = [w for w in (message.get("text") or "").lower().split() if w not in {"a", "an", "do"}]
    numbers = [parse_quantity(word) for word in words]
    return next((number for number in numbers if number is not None), None)
