"""Every response in domain.yml speaks English, Hinglish and Hindi, fills in the values
the actions pass, and renders as valid WhatsApp messages in each language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from channels.whatsapp.render import render_buttons, render_response, render_text
from sandbox.harness.graph_api import validate
from scripts.check_languages import LANGUAGES, check, problems_of

DOMAIN = Path(__file__).parent.parent / "domain.yml"
# One value for every placeholder the actions pass (see actions/*.py).
VALUES = {
    "order_number": 10001,
    "items": "2 × Masala Chai 250 g — ₹500\n1 × Ceramic Tea Mug — ₹299",
    "total": "₹799",
    "item_count": 3,
    "pincode": "560001",
    "payment_url": "https://rzp.io/i/abc123",
    "added": "2 × Masala Chai 250 g, 1 × Ceramic Tea Mug",
    "removed": "Ceramic Tea Mug",
    "words": "“tea”",
    "product": "Ceramic Tea Mug",
    "limit": 20,
    "paid_on": "05-03-2025",
    # product questions (actions/questions.py)
    "price": "₹299",
    "sku": "ceramic-mug",
    "about": "\nStoneware mug, 300 ml.",
    "budget": "₹500",
    # shop policies, from shop.yml
    "place": "Pune",
    "days": "2-4",
    "areas": "• Bengaluru: 1-2\n• Pune: 2-4",
    "fee": "₹49",
    "free_above": "₹499",
    "note": "\nUnopened items only.",
    "codes": "• *CHAI10*: −10% (≥ ₹500)",
    "hours": "10 am – 7 pm, Mon–Sat",
    "contact": "+91 98765 43210 · hello@example.com",
    # money deducted (actions/money_deducted.py)
    "payment_id": "pay_29QQoUBi66xm2f",
    "reference": "#10001 · pay_29QQoUBi66xm2f",
    # the merchant's notice of a handover (handover/notice.py)
    "customer": "919812345678",
    "reason": "asked",
    "inbox_url": "https://shop.example/webhooks/merchant/",
}
SLOTS = {"customer_name": "Asha Rao", "delivery_address": "12 MG Road, Bengaluru",
         # the brand, which action_session_start sets (actions/session.py)
         "shop_name": "Chai & Co.", "shop_tagline": "Teas and teaware", "shop_emoji": "🍵",
         "example_product": "masala chai", "example_addon": "mug"}
DEVANAGARI = re.compile(r"[\u0900-\u097F]")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(DOMAIN))


def test_the_domain_has_every_language_for_every_response():
    assert check(DOMAIN) == []


def test_the_check_finds_a_missing_language_and_differing_values():
    hinglish = [{"type": "slot", "name": "language", "value": "hi-Latn"}]
    variations = [
        {"text": "Order #{order_number} placed", "buttons": [{"title": "Ok", "payload": "/x"}]},
        {"condition": hinglish, "text": "Order ho gaya", "buttons": [{"title": "Ok"}]},
    ]
    problems = problems_of("utter_x", variations)
    assert "utter_x: no `hi` variation" in problems
    assert any("placeholders" in p for p in problems)
    assert any("button payloads differ" in p for p in problems)


def test_the_check_finds_a_list_or_pay_response_missing_its_words_in_any_language():
    hinglish = [{"type": "slot", "name": "language", "value": "hi-Latn"}]
    hindi = [{"type": "slot", "name": "language", "value": "hi"}]
    five = [{"title": f"T{n}", "payload": f"/p{n}"} for n in range(5)]
    full = {"label": "Chuniye", "more": "Aur products", "more_label": "Aur dekho"}
    lists = [
        {"text": "Which one?", "custom": {"list": {"label": "Choose", "more": "More",
                                                   "more_label": "More"}}},
        {"condition": hinglish, "text": "Kaunsa?", "custom": {"list": full}},
        {"condition": hindi, "text": "कौन-सा?", "custom": {"list": {"label": "चुनिए"}}},
    ]
    assert problems_of("utter_ok", [lists[0], lists[1], {**lists[1], "condition": hindi}]) == []
    [problem] = problems_of("utter_list", lists)
    assert problem.startswith("utter_list (hi):") and "lacks more, more_label" in problem

    # More than 3 buttons render as a list, so they need the list's words too.
    menu = [{"text": "Menu", "buttons": five},
            {"condition": hinglish, "text": "Menu", "buttons": five, "custom": {"list": full}},
            {"condition": hindi, "text": "मेन्यू", "buttons": five, "custom": {"list": full}}]
    [problem] = problems_of("utter_menu", menu)
    assert problem.startswith("utter_menu (en): its 5 buttons show as a list")
    assert "lacks label, more, more_label" in problem

    pay = [{"text": "Pay", "custom": {"pay": {"url": "{payment_url}", "label": "Pay Now"}}},
           {"condition": hinglish, "text": "Pay", "custom": {"pay": {"url": "{payment_url}"}}},
           {"condition": hindi, "text": "", "buttons": five[:1],
            "custom": {"pay": {"url": "{payment_url}", "label": "पेमेंट"}}}]
    problems = problems_of("utter_pay", pay)
    assert "utter_pay (hi-Latn): the pay payload lacks label" in problems
    assert "utter_pay (hi): has buttons but no text (their message's body)" in problems


def test_every_response_an_action_adds_buttons_to_shows_them_as_a_list(domain):
    """The actions' buttons may be many: their responses carry the list's words."""
    added = set()
    for path in (DOMAIN.parent / "actions").glob("*.py"):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            keywords = {k.arg: k.value for k in getattr(call, "keywords", [])}
            response = keywords.get("response")
            if "buttons" in keywords and isinstance(response, ast.Constant):
                added.add(response.value)
    assert "utter_menu" in added and "utter_which_to_remove" in added
    for name in added:
        for variation in domain.responses[name]:
            assert set((variation.get("custom") or {}).get("list") or {}) >= {
                "label", "more", "more_label"}, name


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_long_list_speaks_the_customer_s_language_on_every_page(domain, language):
    """What opens a list and what its second page says come from the response."""
    for name in ("utter_which_product", "utter_menu", "utter_gift_ideas"):
        message = await say(domain, name, language)
        choices = message["custom"]["list"]
        message["buttons"] = [{"title": f"Product {n}", "payload": f"/p{n}"}
                              for n in range(13)]
        first, second = [m["interactive"] for m in render_response(message).messages]
        assert first["action"]["button"] == choices["label"]
        assert second["body"]["text"] == f"{choices['more']} (2/2)"
        assert second["action"]["button"] == choices["more_label"]
        words = choices["label"] + choices["more"] + choices["more_label"]
        assert bool(DEVANAGARI.search(words)) is (language == "hi"), (name, words)


async def say(domain: Domain, response: str, language: str) -> dict:
    tracker = DialogueStateTracker.from_events(
        "customer",
        [SlotSet("language", language), *(SlotSet(k, v) for k, v in SLOTS.items()),
         SlotSet("pincode", VALUES["pincode"])],
        slots=domain.slots,
    )
    message = await TemplatedNaturalLanguageGenerator(domain.responses).generate(
        response, tracker, "whatsapp", **VALUES
    )
    assert message is not None, response
    return message


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_response_fills_its_values_and_is_valid_on_whatsapp(domain, language):
    for name in domain.responses:
        message = await say(domain, name, language)
        text = message.get("text") or ""
        # An unknown placeholder leaves the whole text unfilled: none may remain.
        assert not re.search(r"{[a-z_]+}", text + str(message.get("custom"))), (name, text)
        assert bool(DEVANAGARI.search(text)) is (language == "hi"), (name, language, text)
        rendered = render_response(message) or (
            render_buttons(text, message["buttons"]) if message.get("buttons")
            else render_text(text)
        )
        for sent in rendered.messages:
            validate({"messaging_product": "whatsapp", "to": "919876543210", **sent})


@pytest.mark.parametrize("language", LANGUAGES)
async def test_numbers_prices_and_names_read_the_same_in_every_language(domain, language):
    paid = (await say(domain, "utter_payment_received", language))["text"]
    for value in ("#10001", "₹799", "3", "560001"):
        assert value in paid, (language, paid)
    link = await say(domain, "utter_payment_link", language)
    assert VALUES["items"] in link["text"]
    assert link["custom"]["pay"]["url"] == VALUES["payment_url"]


async def test_english_replies_are_the_ones_customers_knew(domain):
    paid = (await say(domain, "utter_payment_received", "en"))["text"]
    assert paid.startswith("✅ *Payment successful!*") and "Items: 3 · ₹799 paid" in paid
    link = await say(domain, "utter_payment_link", "en")
    assert link["custom"]["pay"]["label"] == "Pay Now" and "*Total: ₹799*" in link["text"]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_json_payloads_come_out_as_json(domain, language):
    """Payloads carrying entities double their braces in domain.yml; Rasa's filling of
    placeholders turns them into plain JSON (and logs no KeyError)."""
    which = await say(domain, "utter_ask_which_detail", language)
    assert [b["payload"] for b in which["buttons"]] == [
        '/change_details{"detail":"customer_name"}',
        '/change_details{"detail":"delivery_address"}',
        '/change_details{"detail":"pincode"}',
    ]
    answer = await say(domain, "utter_product_details", language)
    assert answer["buttons"][0]["payload"] == '/add_to_cart{"product":"ceramic-mug"}'
