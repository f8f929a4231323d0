"""Cart actions: add, remove, change quantity, show and clear.

Every reply is a response in domain.yml; these actions choose it and pass the values
(`items`, `total`, product names). Product choices are buttons the actions add, since
their titles are product names, the same in every language.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    button,
    cart_events,
    cart_of,
    cart_values,
    catalog,
    mentions_in,
    payload,
    quantity_in,
    quoted,
)
from commerce.cart import BELOW_ONE, BELOW_ZERO, CART_FULL, OVER_ITEM_LIMIT, Cart, CartError
from commerce.catalog import Match, Mention, Product
from commerce.quantity import AT_LEAST_ONE, WHOLE_NUMBER, quantity_problem
from commerce.questions import question_spans

# The reply to each refusal of the cart (commerce.cart) ...
CART_REFUSALS = {
    BELOW_ONE: "utter_quantity_at_least_one",
    BELOW_ZERO: "utter_quantity_zero_or_more",
    OVER_ITEM_LIMIT: "utter_quantity_over_limit",
    CART_FULL: "utter_cart_full",
}
# ... and to a quantity stated outright that is none (commerce.quantity), with the
# product it was for, or without when that is unclear.
NOT_ADDED = {
    AT_LEAST_ONE: "utter_not_added_at_least_one",
    WHOLE_NUMBER: "utter_not_added_whole_number",
}
NOTHING_ADDED = {
    AT_LEAST_ONE: "utter_quantity_at_least_one",
    WHOLE_NUMBER: "utter_quantity_whole_number",
}


def choice_buttons(intent: str, products: list[Product], **entities: Any) -> list[dict]:
    return [
        button(product.name, payload(intent, product=product.sku, **entities))
        for product in products
    ]


def send_cart(
    dispatcher: CollectingDispatcher, cart: Cart, response: str = "utter_cart", **values: Any
) -> None:
    """The cart with its total, under the heading `response` gives it."""
    if cart.is_empty:
        dispatcher.utter_message(response="utter_cart_empty")
        return
    dispatcher.utter_message(response=response, **cart_values(cart), **values)


def say_refused(dispatcher: CollectingDispatcher, error: CartError) -> None:
    dispatcher.utter_message(response=CART_REFUSALS[error.reason], **error.values)


def ask_which(
    dispatcher: CollectingDispatcher, mention: Mention, intent: str, **entities: Any
) -> None:
    dispatcher.utter_message(
        response="utter_which_product",
        words=quoted([mention.text]),
        buttons=choice_buttons(intent, list(mention.match.candidates), **entities),
    )


def say_not_found(dispatcher: CollectingDispatcher, words: list[str]) -> None:
    dispatcher.utter_message(response="utter_product_not_found", words=quoted(words))


class ActionAddToCart(Action):
    def name(self) -> str:
        return "action_add_to_cart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        catalog_order = (tracker.latest_message.get("metadata") or {}).get("whatsapp_order")
        if not catalog_order and refuse_stated_quantity(dispatcher, tracker):
            return []  # a payload's quantity is stated outright: a bad one adds nothing
        mentions = catalog_items(catalog_order) if catalog_order else mentions_in(tracker)
        asked: list[Mention] = []
        if not catalog_order:
            # "Also add the honey. How much is the darjeeling?": the question's products
            # are answered, not added.
            text = str((tracker.latest_message or {}).get("text") or "")
            spans = question_spans(text)
            asked = [m for m in mentions if any(s <= m.start < e for s, e in spans)]
            mentions = [m for m in mentions if m not in asked]
            if asked:
                from actions.questions import answer_product

                question = " ".join(text[s:e] for s, e in spans)
                answer_product(dispatcher, catalog(), question, asked)
        if not mentions:
            if not asked:
                dispatcher.utter_message(response="utter_what_to_add")
            return []
        return add_mentions(dispatcher, cart, mentions, stated=bool(catalog_order))


def add_mentions(
    dispatcher: CollectingDispatcher, cart: Cart, mentions: list[Mention], stated: bool = False
) -> list[dict[str, Any]]:
    """Add what `mentions` name to `cart`, say what was added (or why not), and return
    the cart's slot events. `stated`: every quantity is as sent (a WhatsApp catalog cart)."""
    added, missing = [], []
    for mention in mentions:
        problem = quantity_problem(mention.quantity) if stated else None
        if mention.match.is_ambiguous:
            quantity = {"quantity": mention.quantity} if mention.quantity else {}
            ask_which(dispatcher, mention, "add_to_cart", **quantity)
        elif not mention.match.found:
            missing.append(mention.text)
        elif problem is not None:
            # A catalog cart states every quantity: 0 (or less) adds nothing.
            dispatcher.utter_message(
                response=NOT_ADDED[problem], product=mention.match.product.name
            )
        else:
            try:
                quantity = 1 if mention.quantity is None else mention.quantity
                cart.add(mention.match.product, quantity)
                added.append(f"{quantity} × {mention.match.product.name}")
            except CartError as error:
                say_refused(dispatcher, error)

    if missing:
        say_not_found(dispatcher, missing)
    if added:
        send_cart(dispatcher, cart, "utter_added", added=", ".join(added))
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


def refuse_stated_quantity(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Say what is wrong with the quantity a payload states (`/add_to_cart{"product": ...,
    "quantity": -5}`, typed or tapped) and return True; False when it is fine or the
    message is typed text (where a word that is no number is no quantity)."""
    message = tracker.latest_message or {}
    if not str(message.get("text") or "").startswith("/"):
        return False
    entities = message.get("entities") or []
    problems = [
        quantity_problem(e.get("value")) for e in entities if e.get("entity") == "quantity"
    ]
    problem = next((p for p in problems if p is not None), None)
    if problem is None:
        return False
    products = [
        catalog().resolve(str(e.get("value") or ""))
        for e in entities
        if e.get("entity") == "product"
    ]
    named = [match.product.name for match in products if match.found]
    if len(named) == 1:
        dispatcher.utter_message(response=NOT_ADDED[problem], product=named[0])
    else:
        dispatcher.utter_message(response=NOTHING_ADDED[problem])
    return True


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
                response="utter_which_to_remove",
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
            dispatcher.utter_message(response="utter_not_in_cart", words=quoted(absent))
        if removed:
            send_cart(dispatcher, cart, "utter_removed", removed=", ".join(removed))
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
                dispatcher.utter_message(response="utter_ask_quantity", product=product.name)
                continue
            try:
                cart.set_quantity(product, mention.quantity)
                changed = True
            except CartError as error:
                say_refused(dispatcher, error)
        if not mentions:
            dispatcher.utter_message(response="utter_ask_item_and_quantity")
        if changed:
            send_cart(dispatcher, cart, "utter_updated")
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
        dispatcher.utter_message(response="utter_cart_cleared")
        return cart_events(Cart())
