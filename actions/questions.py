"""Questions: about products (price, size, what's in it, in stock, cheapest, a gift
under a budget) answered from the catalog, and about the shop (cash on delivery,
delivery areas and days, shipping, returns, discounts, support) from shop.yml.

The words are responses in domain.yml; these actions pick one and pass the values.
Where shop.yml says nothing, the answer is that we don't know, and a person is offered
(`utter_offer_person`, whose button hands the conversation over). Not understood three
times in a row, the fallback hands the conversation to a person (actions/handover.py).
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.browse import product_buttons
from actions.cart import add_mentions
from actions.common import cart_of, cart_values, catalog, mentions_in, payload
from actions.handover import FALLBACKS as FALLBACKS_REASON
from actions.handover import hand_over
from commerce.catalog import Catalog, Mention, Product
from commerce.delivery import find_pincode
from commerce.money import format_inr
from commerce.questions import (
    Ask,
    Topic,
    add_spans,
    asks_about_products,
    budget_in,
    looks_like_question,
    policy_topic,
    product_ask,
    question_spans,
)
from commerce.shop import Shop, load_shop

MAX_ANSWERS = 3  # products answered in one message
CONFIRM_WORDS = re.compile(
    r"confirm|place|book|pakka|कन्फर्म|पक्का|order kar|ऑर्डर कर|👍|👌", re.IGNORECASE
)
GIFT_WORDS = re.compile(r"gift|present|tohf|तोहफ|गिफ्ट", re.IGNORECASE)


def _text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def _inside(mention: Mention, spans: list[tuple[int, int]]) -> bool:
    return any(start <= mention.start < end for start, end in spans)


def _price_list(products: list[Product]) -> list[dict[str, str]]:
    return [
        {
            "title": product.name,
            "payload": payload("add_to_cart", product=product.sku),
            "description": format_inr(product.price),
        }
        for product in products[:10]
    ]


def _product_values(product: Product) -> dict[str, str]:
    return {
        "product": product.name,
        "price": format_inr(product.price),
        "sku": product.sku,
        "about": f"\n{product.about}" if product.about else "",
    }


def answer_product(
    dispatcher: CollectingDispatcher, shop: Catalog, text: str, mentions: list[Mention]
) -> None:
    """Answer a product question; `mentions` are the products it names."""
    ask = product_ask(text)
    products = [p for p in shop.products if p.in_stock]
    if ask in (Ask.CHEAPEST, Ask.BUDGET, Ask.GIFT):
        # "cheapest tea", "honey under 300": among the products named; "a gift under
        # ₹500" names no product (the gift box is no answer to it).
        named = [m for m in mentions if not GIFT_WORDS.search(m.text)]
        pool = [
            p
            for m in named
            for p in ((m.match.product,) if m.match.found else m.match.candidates)
            if p.in_stock
        ]
        pool = list(dict.fromkeys(pool)) or products
        if ask is Ask.CHEAPEST:
            cheapest = min(pool or shop.products, key=lambda p: p.price)
            dispatcher.utter_message(response="utter_product_cheapest", **_product_values(cheapest))
            return
        budget = budget_in(text)
        fitting = sorted(
            (p for p in pool if budget is None or p.price <= budget), key=lambda p: -p.price
        )
        if not fitting:
            dispatcher.utter_message(response="utter_nothing_under", budget=format_inr(budget or 0))
        elif budget is None:
            dispatcher.utter_message(response="utter_gift_ideas", buttons=_price_list(fitting))
        else:
            dispatcher.utter_message(
                response="utter_products_under",
                budget=format_inr(budget),
                buttons=_price_list(fitting),
            )
        return
    found = [m.match.product for m in mentions if m.match.found]
    found = list(dict.fromkeys(found))[:MAX_ANSWERS]
    if not found:
        ambiguous = next((m for m in mentions if m.match.is_ambiguous), None)
        if ambiguous is not None:
            dispatcher.utter_message(
                response="utter_which_product_question",
                buttons=_price_list(list(ambiguous.match.candidates)),
            )
        else:
            dispatcher.utter_message(
                response="utter_which_product_question", buttons=product_buttons(shop)
            )
        return
    for product in found:
        if not product.in_stock:
            dispatcher.utter_message(response="utter_product_out_of_stock", product=product.name)
        elif ask is Ask.AVAILABLE:
            dispatcher.utter_message(response="utter_product_in_stock", **_product_values(product))
        else:
            dispatcher.utter_message(response="utter_product_details", **_product_values(product))


def _areas(shop: Shop) -> str:
    return "\n".join(
        f"• {area.name}" + (f": {area.days}" if area.days else "") for area in shop.areas
    )


def _contact(shop: Shop) -> str:
    return " · ".join(c for c in (shop.support_phone, shop.support_email) if c)


def policy_answer(shop: Shop, topic: Topic | None, text: str) -> tuple[str, dict[str, Any]]:
    """The response (and its values) that answers `topic` from the shop's facts."""
    unknown: tuple[str, dict[str, Any]] = ("utter_policy_unknown", {})
    if topic is Topic.COD:
        if shop.cash_on_delivery is None:
            return unknown
        return ("utter_policy_cod_yes" if shop.cash_on_delivery else "utter_policy_cod_no"), {}
    if topic is Topic.DISCOUNT:
        if shop.discounts is None:
            return unknown
        if not shop.discounts:
            return "utter_policy_no_discounts", {}
        lines = []
        for d in shop.discounts:
            off = f"{d.percent}%" if d.percent else format_inr(d.amount) if d.amount else ""
            above = f" (≥ {format_inr(d.min_order)})" if d.min_order else ""
            lines.append(f"• *{d.code}*" + (f": −{off}" if off else "") + above)
        return "utter_policy_discounts", {"codes": "\n".join(lines)}
    if topic is Topic.RETURNS:
        if shop.returns_accepted is None:
            return unknown
        if not shop.returns_accepted:
            return "utter_policy_no_returns", {"note": _note(shop.returns_note)}
        if shop.returns_within_days is None:
            return unknown
        return "utter_policy_returns", {
            "days": str(shop.returns_within_days),
            "note": _note(shop.returns_note),
        }
    if topic is Topic.SHIPPING:
        if shop.shipping_fee is None:
            return unknown
        if shop.shipping_fee == 0:
            return "utter_policy_shipping_free", {}
        if shop.free_shipping_above is None:
            return "utter_policy_shipping_flat", {"fee": format_inr(shop.shipping_fee)}
        return "utter_policy_shipping", {
            "fee": format_inr(shop.shipping_fee),
            "free_above": format_inr(shop.free_shipping_above),
        }
    if topic is Topic.SUPPORT:
        contact = _contact(shop)
        if shop.support_hours and contact:
            return "utter_policy_support", {"hours": shop.support_hours, "contact": contact}
        if contact:
            return "utter_policy_contact", {"contact": contact}
        if shop.support_hours:
            return "utter_policy_hours", {"hours": shop.support_hours}
        return unknown
    if topic is Topic.DELIVERY:
        return _delivery_answer(shop, text) or unknown
    return unknown


def _note(note: str | None) -> str:
    return f"\n{note}" if note else ""


def _delivery_answer(shop: Shop, text: str) -> tuple[str, dict[str, Any]] | None:
    if not shop.areas and not shop.delivers_elsewhere:
        return None
    area = shop.area_named_in(text)
    pincode = find_pincode(text)
    if area is None and pincode:
        area = shop.area_for_pincode(pincode)
        if area is None:
            # The PIN code is a value of its own; its responses word it in each language.
            if shop.delivers_elsewhere:
                return "utter_policy_delivers_to_pincode", {
                    "pincode": pincode,
                    "days": shop.elsewhere_days,
                }
            return "utter_policy_no_delivery_to_pincode", {
                "pincode": pincode,
                "areas": _areas(shop),
            }
    if area is not None:
        if area.days:
            return "utter_policy_delivers_to", {"place": area.name, "days": area.days}
        return "utter_policy_delivers_to_no_days", {"place": area.name}
    if shop.delivers_elsewhere:
        return "utter_policy_delivery_everywhere", {
            "areas": _areas(shop),
            "days": shop.elsewhere_days,
        }
    return "utter_policy_delivery_areas", {"areas": _areas(shop)}


def answer_policy(dispatcher: CollectingDispatcher, text: str) -> None:
    response, values = policy_answer(load_shop(), policy_topic(text), text)
    dispatcher.utter_message(response=response, **values)
    if response == "utter_policy_unknown":
        dispatcher.utter_message(response="utter_offer_person")


def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> None:
    """A question typed where the checkout form expected an answer: about a product
    when it names one, else about the shop."""
    mentions = catalog().find_in_text(text)
    if mentions or (policy_topic(text) is None and product_ask(text) is not Ask.DETAILS):
        answer_product(dispatcher, catalog(), text, mentions)
    else:
        answer_policy(dispatcher, text)


class ActionAnswerProduct(Action):
    """ "How much is the darjeeling?", "mug ka price kya hai", "sabse sasta kya hai";
    with "Also add the honey." in the same message, the honey is added too."""

    def name(self) -> str:
        return "action_answer_product"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return answer_and_add(dispatcher, tracker)


def answer_and_add(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """Answer a product question; add what a sentence of it asks to add."""
    text = _text(tracker)
    mentions = mentions_in(tracker)
    adding = add_spans(text)
    to_add = [m for m in mentions if _inside(m, adding)]
    asked = [m for m in mentions if not _inside(m, adding)]
    events: list[dict[str, Any]] = []
    if to_add:
        events = add_mentions(dispatcher, cart_of(tracker), to_add)
    question = (
        text if not adding else " ".join(text[s:e] for s, e in _complement(adding, len(text)))
    )
    if (
        policy_topic(question) is not None
        and not asked
        and product_ask(question) in (Ask.DETAILS, Ask.AVAILABLE)
    ):
        answer_policy(dispatcher, question)  # "COD milega?" understood as a product ask
    else:
        answer_product(dispatcher, catalog(), question, asked)
    return events


def _complement(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    result, start = [], 0
    for s, e in sorted(spans):
        if s > start:
            result.append((start, s))
        start = max(start, e)
    if start < length:
        result.append((start, length))
    return result


class ActionAnswerPolicy(Action):
    def name(self) -> str:
        return "action_answer_policy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = _text(tracker)
        if policy_topic(text) is None and catalog().find_in_text(text):
            answer_product(dispatcher, catalog(), text, mentions_in(tracker))
        else:
            answer_policy(dispatcher, text)
        return []


# The fallback's answer by what the customer is most likely doing; the second in a
# row is worded differently, so the bot never repeats itself word for word.
FALLBACKS = {
    "confirm": ("utter_default_confirm", "utter_confirm_order"),
    "cart": ("utter_default_cart", "utter_default_cart_again"),
    "start": ("utter_default", "utter_default_again"),
}


FALLBACK_RESPONSES = frozenset(r for pair in FALLBACKS.values() for r in pair)
# The third "not understood" in a row goes to a person instead.
HAND_OVER_AFTER = 3


def not_understood_in_a_row(tracker: Tracker) -> int:
    """How many of the customer's last messages in a row, before the latest, the
    fallback answered with "not understood" (an answered question breaks the run)."""
    turns: list[tuple[bool, list[str]]] = []  # (the fallback ran, responses) per message
    ran, said = False, []
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            turns.append((ran, said))
            ran, said = False, []
        elif kind == "action" and event.get("name") == "action_default_fallback":
            ran = True
        elif kind == "bot":
            said.append((event.get("metadata") or {}).get("utter_action"))
    count = 0
    for ran, said in turns[1:]:  # turns[0]: what followed the latest message, nothing yet
        if not (ran and said and all(r in FALLBACK_RESPONSES for r in said)):
            break
        count += 1
    return count


def last_bot_response(tracker: Tracker) -> str | None:
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            return (event.get("metadata") or {}).get("utter_action")
        if event.get("event") == "user":
            continue
    return None


class ActionDefaultFallback(Action):
    """Replaces Rasa's action_default_fallback (low NLU or dialogue confidence): offers
    the most likely next steps as buttons, never the same words twice in a row; the
    third time in a row, a person takes over."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = _text(tracker)
        if text and not text.startswith("/"):
            # A question NLU was unsure of ("Also add the honey. How much is the
            # darjeeling?" sits between two intents): answered all the same.
            if catalog().find_in_text(text) and (
                asks_about_products(text) or question_spans(text) or add_spans(text)
            ):
                return answer_and_add(dispatcher, tracker)
            if policy_topic(text) is not None and looks_like_question(text):
                answer_policy(dispatcher, text)
                return []
        cart = cart_of(tracker)
        confirming = tracker.get_slot("awaiting_confirmation") and not cart.is_empty
        if confirming and CONFIRM_WORDS.search(text):
            # "I already confirmed! place the order": placed (its link follows).
            return [FollowupAction("action_place_order")]
        if not_understood_in_a_row(tracker) >= HAND_OVER_AFTER - 1:
            return await hand_over(dispatcher, tracker, domain, FALLBACKS_REASON)
        if confirming:
            context = "confirm"
        elif not cart.is_empty:
            context = "cart"
        else:
            context = "start"
        first, again = FALLBACKS[context]
        response = again if last_bot_response(tracker) == first else first
        values: dict[str, Any] = {}
        if response == "utter_confirm_order":
            values = cart_values(cart)
        dispatcher.utter_message(response=response, **values)
        return [SlotSet("cart_has_items", not cart.is_empty)]
