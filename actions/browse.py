"""Browsing: the catalog as the `utter_menu` response with one button per product.

Each button carries the product's price as `description` and its category as
`section`; a channel that can (WhatsApp: list messages) shows them, others show the
titles. The response's `list` payload names the list's buttons in the customer's language.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import catalog, payload
from commerce.catalog import Catalog
from commerce.money import format_inr
from commerce.questions import Ask, asks_about_products, product_ask


def product_buttons(shop: Catalog) -> list[dict[str, str]]:
    """One button per product, by category in catalog order; a tap adds one to the cart."""
    return [
        {
            "title": product.name,
            "payload": payload("add_to_cart", product=product.sku),
            "description": format_inr(product.price),
            "section": category,
        }
        for category, products in shop.by_category().items()
        for product in products
    ]


class ActionShowCatalog(Action):
    def name(self) -> str:
        return "action_show_catalog"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        if not text.startswith("/") and asks_about_products(text):
            # "mug kitne ka hai", "what's cheapest": an answer, not the whole menu.
            from actions.questions import answer_product

            shop = catalog()
            mentions = shop.find_in_text(text)
            if mentions or product_ask(text) is not Ask.DETAILS:
                answer_product(dispatcher, shop, text, mentions)
                return []
        dispatcher.utter_message(response="utter_menu", buttons=product_buttons(catalog()))
        return []
