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
        dispatcher.utter_message(response="utter_menu", buttons=product_buttons(catalog()))
        return []
