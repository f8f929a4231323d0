"""A merchant's brand: shop.yml's name, tagline and emoji and catalog.yml's products
reach the bot's words through slots that action_session_start sets (no retraining),
and the sandbox's pages show the same shop. Tested with another merchant's files
(tests/fixtures/brand_shop.yml, brand_catalog.yml)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.session import ActionSessionStart
from commerce.brand import DEFAULT_EMOJI, brand_slots, spoken_name
from commerce.catalog import load_catalog
from commerce.shop import ShopError, load_shop, parse_shop
from sandbox.harness.sandbox_bot import sandbox_with_bot

FIXTURES = Path(__file__).parent / "fixtures"
BRAND_SHOP = FIXTURES / "brand_shop.yml"
BRAND_CATALOG = FIXTURES / "brand_catalog.yml"
MODEL = Path(os.environ.get("CHECKOUT_MODEL", "models/checkout.tar.gz"))
SESSION_CONFIG = {"session_expiration_time": 720, "carry_over_slots_to_new_session": True}
KAPDA_GHAR = {
    "shop_name": "Kapda Ghar",
    "shop_tagline": "Handloom sarees and kurtas from Varanasi",
    "shop_emoji": "🧵",
    "example_product": "saree",  # "Banarasi Silk Saree": three words, its short name
    "example_addon": "kurta",  # the first of the last category
}


@pytest.fixture
def other_shop(monkeypatch):
    monkeypatch.setenv("SHOP_FILE", str(BRAND_SHOP))
    monkeypatch.setenv("CATALOG_PATH", str(BRAND_CATALOG))


def expired_session() -> Tracker:
    return Tracker.from_dict(
        json.loads((FIXTURES / "tracker_session_expired.json").read_text(encoding="utf-8"))
    )


async def start(domain: dict) -> list[dict]:
    return await ActionSessionStart().run(CollectingDispatcher(), expired_session(), domain)


# --- the brand slots -----------------------------------------------------------------


def test_the_shipped_shop_speaks_as_before():
    slots = brand_slots(load_shop(FIXTURES.parent.parent / "shop.yml"), load_catalog())
    assert slots["shop_name"] == "Chai & Co." and slots["shop_emoji"] == "🍵"
    assert (slots["example_product"], slots["example_addon"]) == ("masala chai", "mug")


def test_another_shop_gets_its_name_and_its_own_products_in_examples():
    assert brand_slots(load_shop(BRAND_SHOP), load_catalog(BRAND_CATALOG)) == KAPDA_GHAR


def test_without_tagline_emoji_or_examples_the_catalog_speaks():
    shop = parse_shop({"name": "Kapda Ghar", "examples": ["no-such-sku"]})
    slots = brand_slots(shop, load_catalog(BRAND_CATALOG))
    assert slots["shop_tagline"] == "Sarees · Kurtas"  # the categories, in file order
    assert slots["shop_emoji"] == DEFAULT_EMOJI
    assert (slots["example_product"], slots["example_addon"]) == ("saree", "kurta")


def test_what_customers_type_for_a_product():
    names = {p.sku: spoken_name(p) for p in load_catalog().products}
    assert names["masala-chai-250g"] == "masala chai"  # the pack size goes
    assert names["kulhad-set-6"] == "kulhad"  # "Set of 6" too
    assert names["ceramic-mug"] == "mug"  # three words: its short other name
    assert names["festive-gift-box"] == "gift box"


@pytest.mark.parametrize(
    "data, words",
    [
        ({"cash_on_delivery": True}, "name"),
        ({"name": "X", "tagline": "two\nlines"}, "tagline must be one line"),
        ({"name": "X", "emoji": "🍵 the best tea in town"}, "emoji must be one line of at most"),
        ({"name": "X", "examples": "masala-chai-250g"}, "examples must be a list"),
        ({"name": "X", "examples": ["a", "b", "c"]}, "one or two product skus"),
    ],
)
def test_a_bad_brand_is_refused_with_the_field_named(data, words):
    with pytest.raises(ShopError, match=words):
        parse_shop(data)


def test_a_bad_file_names_itself(tmp_path):
    bad = tmp_path / "shop.yml"
    bad.write_text("tagline: no name here\n", encoding="utf-8")
    with pytest.raises(ShopError, match=f"{bad}: name"):
        load_shop(bad)


# --- action_session_start ------------------------------------------------------------


async def test_session_start_carries_slots_over_and_sets_the_brand(other_shop):
    events = await start({"session_config": SESSION_CONFIG})
    assert events[0]["event"] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    assert {e["event"] for e in events[1:-1]} == {"slot"}  # nothing else between
    values = {e["name"]: e["value"] for e in events[1:-1]}
    # The last session's slots, each at its last value; not what a restart wiped.
    assert values["language"] == "hi-Latn" and values["customer_name"] == "Asha Rao"
    assert values["cart"] == [{"sku": "masala-chai-250g", "quantity": 3}]
    assert values["cart_has_items"] is True and "pincode" not in values
    # The brand from today's files, not the one the last session carried.
    assert KAPDA_GHAR.items() <= values.items()


async def test_session_start_without_carry_over_sets_only_the_brand(other_shop):
    config = {**SESSION_CONFIG, "carry_over_slots_to_new_session": False}
    events = await start({"session_config": config})
    assert [e["event"] for e in events] == ["session_started", *["slot"] * 5, "action"]
    assert {e["name"]: e["value"] for e in events[1:-1]} == KAPDA_GHAR


async def test_a_broken_shop_file_is_logged_and_the_conversation_still_starts(
    tmp_path, monkeypatch, caplog
):
    broken = tmp_path / "shop.yml"
    broken.write_text("tagline: a shop with no name\n", encoding="utf-8")
    monkeypatch.setenv("SHOP_FILE", str(broken))
    events = await start({"session_config": SESSION_CONFIG})
    assert events[0]["event"] == "session_started" and events[-1]["name"] == "action_listen"
    values = {e["name"]: e["value"] for e in events[1:-1]}
    assert values["shop_name"] == "" and values["customer_name"] == "Asha Rao"
    assert f"{broken}: name" in caplog.text


# --- the sandbox's pages -------------------------------------------------------------


async def sandbox_status(**settings: str | None) -> dict:
    async with sandbox_with_bot(shop_file=str(BRAND_SHOP), **settings) as (url, _bot, _app):
        async with aiohttp.ClientSession() as session, session.get(
            f"{url}/sandbox/api/status"
        ) as response:
            return await response.json()


async def test_the_sandbox_header_shows_the_shop_file_unless_told_otherwise():
    status = await sandbox_status(shop_name=None)
    assert status["shop_name"] == "Kapda Ghar (sandbox)" and status["shop_emoji"] == "🧵"
    status = await sandbox_status(shop_name="Demo store")  # SANDBOX_SHOP_NAME
    assert status["shop_name"] == "Demo store" and status["shop_emoji"] == "🧵"


# --- through the trained model -------------------------------------------------------


GREETINGS = [  # (customer, what they send, what the greeting must say)
    ("919800000011", "hello", ["Welcome to *Kapda Ghar* 🧵", "“2 saree and 1 kurta”"]),
    ("919800000012", "नमस्ते", ["*Kapda Ghar* 🧵 में", "“2 saree और एक kurta”"]),
]


@pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is not trained yet (`make train`)")
async def test_the_greeting_names_another_shop_without_retraining(other_shop, checkout_agent):
    for customer, text, words in GREETINGS:
        output = CollectingOutputChannel()
        await checkout_agent.handle_message(UserMessage(text, output, customer))
        replies = " ".join(m.get("text") or "" for m in output.messages)
        assert all(w in replies for w in words), replies
        assert "Chai & Co." not in replies and "Handloom sarees" in replies
