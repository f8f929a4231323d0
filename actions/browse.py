"""Browsing: the catalog as a WhatsApp list message, or as text elsewhere."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import catalog, payload
from commerce.catalog import Catalog, Product
from commerce.money import format_inr

INTRO = "Here's our menu 🍵 Tap a product to add it, or just type, e.g. “2 masala chai and a mug”."
# WhatsApp's list message limits (see the Cloud API reference).
ROWS_PER_LIST = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72


def list_messages(shop: Catalog) -> list[dict[str, Any]]:
    """Interactive list payloads, sections by category, at most 10 rows per message."""
    pages: list[list[tuple[str, list[Product]]]] = [[]]
    rows_on_page = 0
    for category, products in shop.by_category().items():
        for product in products:
            if rows_on_page == ROWS_PER_LIST:
                pages.append([])
                rows_on_page = 0
            page = pages[-1]
            if not page or page[-1][0] != category:
                page.append((category, []))
            page[-1][1].append(product)
            rows_on_page += 1
    return [
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {
                    "text": INTRO if number == 1 else f"More from our shop ({number}/{len(pages)})"
                },
                "action": {
                    "button": "See products" if number == 1 else "More products",
                    "sections": [
                        {"title": category[:24], "rows": [row(product) for product in products]}
                        for category, products in page
                    ],
                },
            },
        }
        for number, page in enumerate(pages, start=1)
    ]


def row(product: Product) -> dict[str, str]:
    title = product.name if len(product.name) <= ROW_TITLE else product.name[: ROW_TITLE - 1] + "…"
    description = format_inr(product.price)
    if title != product.name:
        description = f"{description} · {product.name}"
    return {
        "id": payload("add_to_cart", product=product.sku),
        "title": title,
        "description": description[:ROW_DESCRIPTION],
    }


def menu_text(shop: Catalog) -> str:
    sections = [
        f"*{category}*\n" + "\n".join(f"• {p.name} — {format_inr(p.price)}" for p in products)
        for category, products in shop.by_category().items()
    ]
    return INTRO + "\n\n" + "\n\n".join(sections)


class ActionShowCatalog(Action):
    def name(self) -> str:
        return "action_show_catalog"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        shop = catalog()
        if tracker.get_latest_input_channel() == "whatsapp":
            for message in list_messages(shop):
                dispatcher.utter_message(json_message={"whatsapp": message})
        else:
            dispatcher.utter_message(text=menu_text(shop))
        return []
