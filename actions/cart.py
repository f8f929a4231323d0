"""Cart actions: add, remove, change quantity, show and clear."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    button,
    cart_events,
    cart_of,
    catalog,
    mentions_in,
    payload,
    quantity_in,
)
from commerce.cart import Cart, CartError
from commerce.catalog import Match, Mention, Product
from commerce.quantity import quantity_problem

NEXT_STEPS = [
    button("🛒 View cart", "/view_cart"),
    button("✅ Checkout", "/checkout"),
    button("🍵 Browse more", "/browse_products"),
]


def choice_buttons(intent: str, products: list[Product], **entities: Any) -> list[dict]:
    return [
        button(product.name, payload(intent, product=product.sku, **entities))
        for product in products
    ]


def send_cart(
    dispatcher: CollectingDispatcher, cart: Cart, heading: str = "🛒 *Your cart*"
) -> None:
    if cart.is_empty:
        dispatcher.utter_message(response="utter_cart_empty")
        return
    dispatcher.utter_message(
        text=f"{heading}\n{cart.summary_text()}",
        buttons=[
            button("✅ Checkout", "/checkout"),
            button("🍵 Browse more", "/browse_products"),
            button("🗑️ Clear cart", "/clear_cart"),
        ],
    )


def ask_which(
    dispatcher: CollectingDispatcher, mention: Mention, intent: str, **entities: Any
) -> None:
    dispatcher.utter_message(
        text=f"Which one do you mean by “{mention.text}”?",
        buttons=choice_buttons(intent, list(mention.match.candidates), **entities),
    )


def say_not_found(dispatcher: CollectingDispatcher, words: list[str]) -> None:
    named = ", ".join(f"“{word}”" for word in words)
    dispatcher.utter_message(
        text=f"Sorry, I couldn't find {named} in our shop. Here's what we have:",
        buttons=[button("🍵 Browse products", "/browse_products")],
    )


class ActionAddToCart(Action):
    def name(self) -> str:
        return "action_add_to_cart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        catalog_order = (tracker.latest_message.get("metadata") or {}).get("whatsapp_order")
        if not catalog_order:
            refused = stated_quantity_problem(tracker)
            if refused is not None:
                # A payload's quantity is stated outright: a bad one adds nothing.
                dispatcher.utter_message(text=refused, buttons=NEXT_STEPS)
                return []
        mentions = catalog_items(catalog_order) if catalog_order else mentions_in(tracker)
        if not mentions:
            dispatcher.utter_message(
                text="What would you like to add? For example: “2 masala chai and a mug”.",
                buttons=[button("🍵 Browse products", "/browse_products")],
            )
            return []

        added, problems, missing = [], [], []
        for mention in mentions:
            if mention.match.is_ambiguous:
                quantity = {"quantity": mention.quantity} if mention.quantity else {}
                ask_which(dispatcher, mention, "add_to_cart", **quantity)
            elif not mention.match.found:
                missing.append(mention.text)
            elif catalog_order and quantity_problem(mention.quantity) is not None:
                # A catalog cart states every quantity: 0 (or less) adds nothing.
                name = mention.match.product.name
                problems.append(f"I didn't add {name}. {quantity_problem(mention.quantity)}")
            else:
                try:
                    quantity = 1 if mention.quantity is None else mention.quantity
                    cart.add(mention.match.product, quantity)
                    added.append(f"{quantity} × {mention.match.product.name}")
                except CartError as error:
                    problems.append(str(error))

        for problem in problems:
            dispatcher.utter_message(text=problem)
        if missing:
            say_not_found(dispatcher, missing)
        if added:
            dispatcher.utter_message(
                text="Added " + ", ".join(added) + f" ✅\n\n{cart.summary_text()}",
                buttons=NEXT_STEPS,
            )
        return cart_events(cart)


def catalog_items(items: list[dict]) -> list[Mention]:
    """A cart sent from the WhatsApp catalog: skus are ours, prices are not trusted, and
    each quantity is as sent (0 stays 0, refused when adding; not a number reads as 0)."""
    shop = catalog()
    mentions = []
    for position, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        sku = str(item.get("sku", ""))
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            quantity = 0
        mentions.append(Mention(sku, quantity, shop.resolve(sku), position))
    return mentions


def stated_quantity_problem(tracker: Tracker) -> str | None:
    """What is wrong with the quantity a payload states (`/add_to_cart{"product": ...,
    "quantity": -5}`, typed or tapped), worded for the customer; None when it is fine or
    the message is typed text (where a word that is no number is no quantity)."""
    message = tracker.latest_message or {}
    if not str(message.get("text") or "").startswith("/"):
        return None
    entities = message.get("entities") or []
    for entity in entities:
        if entity.get("entity") != "quantity":
            continue
        problem = quantity_problem(entity.get("value"))
        if problem is not None:
            products = [
                catalog().resolve(str(e.get("value") or ""))
                for e in entities
                if e.get("entity") == "product"
            ]
            named = [match.product.name for match in products if match.found]
            what = named[0] if len(named) == 1 else "anything"
            return f"I didn't add {what}. {problem}"
    return None


class ActionRemoveFromCart(Action):
    def name(self) -> str:
        return "action_remove_from_cart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        if cart.is_empty:
            dispatcher.utter_message(response="utter_cart_empty")
            return []
        mentions = mentions_in(tracker)
        if not mentions:
            in_cart = [catalog().get(line.sku) for line in cart.lines]
            dispatcher.utter_message(
                text="Which item should I remove?",
                buttons=choice_buttons("remove_from_cart", [p for p in in_cart if p]),
            )
            return []

        removed, absent = [], []
        for mention in mentions:
            product = in_cart_choice(cart, mention)
            if isinstance(product, Product):
                cart.remove(product.sku)
                removed.append(product.name)
            elif product:  # several products in the cart fit the words
                narrowed = Mention(mention.text, None, Match(None, tuple(product)), mention.start)
                ask_which(dispatcher, narrowed, "remove_from_cart")
            else:
                absent.append(mention.text)

        if absent:
            names = ", ".join(f"“{word}”" for word in absent)
            dispatcher.utter_message(text=f"{names} isn't in your cart.")
        if removed:
            send_cart(
                dispatcher, cart, heading="Removed " + ", ".join(removed) + " 🗑️\n\n🛒 *Your cart*"
            )
        elif not cart.is_empty and absent:
            send_cart(dispatcher, cart)
        return cart_events(cart)


def in_cart_choice(cart: Cart, mention: Mention) -> Product | list[Product] | None:
    """The cart's product the mention names, the candidates when several fit, or None."""
    candidates = [mention.match.product] if mention.match.found else list(mention.match.candidates)
    present = [product for product in candidates if cart.get(product.sku)]
    if len(present) == 1:
        return present[0]
    return present or None


class ActionChangeQuantity(Action):
    def name(self) -> str:
        return "action_change_quantity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        if cart.is_empty:
            dispatcher.utter_message(response="utter_cart_empty")
            return []
        mentions = mentions_in(tracker)
        quantity = quantity_in(tracker)
        if not mentions and len(cart.lines) == 1 and quantity is not None:
            # "make it 3" when only one product is in the cart.
            only = cart.lines[0]
            mentions = [Mention(only.name, quantity, catalog().resolve(only.sku), 0)]
        changed = False
        for mention in mentions:
            product = in_cart_choice(cart, mention)
            if not isinstance(product, Product):
                product = mention.match.product
            if product is None and mention.match.is_ambiguous:
                ask_which(dispatcher, mention, "change_quantity")
                continue
            if product is None:
                say_not_found(dispatcher, [mention.text])
                continue
            if mention.quantity is None:
                dispatcher.utter_message(
                    text=f"How many {product.name} would you like? E.g. “make it 3 {product.name}”."
                )
                continue
            try:
                cart.set_quantity(product, mention.quantity)
                changed = True
            except CartError as error:
                dispatcher.utter_message(text=str(error))
        if not mentions:
            dispatcher.utter_message(
                text="Tell me the item and the new quantity, e.g. “make it 3 masala chai”."
            )
        if changed:
            send_cart(dispatcher, cart, heading="Updated ✅\n\n🛒 *Your cart*")
        return cart_events(cart)


class ActionShowCart(Action):
    def name(self) -> str:
        return "action_show_cart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        send_cart(dispatcher, cart)
        return cart_events(cart)


class ActionClearCart(Action):
    def name(self) -> str:
        return "action_clear_cart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            text="Your cart is now empty 🧹",
            buttons=[button("🍵 Browse products", "/browse_products")],
        )
        return cart_events(Cart())
