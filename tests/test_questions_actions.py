"""Product questions against the shipped catalog, shop policies against the test
shop (tests/fixtures/shop.yml), questions at form prompts, the fallback's buttons and
the pending confirmation: custom actions run with real trackers."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.browse import ActionShowCatalog
from actions.cart import ActionAddToCart
from actions.checkout import (
    ActionAskOrderConfirmation,
    ActionAskPincode,
    ActionPlaceOrder,
    ActionResetDetail,
    ActionStopCheckout,
    ValidateCheckoutForm,
)
from actions.order_status import ActionOrderStatus
from actions.questions import (
    ActionAnswerPolicy,
    ActionAnswerProduct,
    ActionDefaultFallback,
    policy_answer,
)
from commerce.questions import Topic, looks_like_question, policy_topic, product_ask
from commerce.shop import Shop, ShopError, load_shop, parse_shop
from tests.test_actions import run, said, slots_of, tracker

FIXTURES = Path(__file__).parent / "fixtures"
REAL_SHOP = Path(__file__).parent.parent / "shop.yml"
CART = [{"sku": "masala-chai-250g", "quantity": 2}]


@pytest.fixture(autouse=True)
def test_shop(monkeypatch):
    monkeypatch.setenv("SHOP_FILE", str(FIXTURES / "shop.yml"))


def values(message: dict) -> dict:
    return {k: v for k, v in message.items() if k not in {"response", "buttons", "text"}}


# --- product questions, answered from catalog.yml --------------------------------------
@pytest.mark.parametrize(
    "text, product, price",
    [
        ("How much is the darjeeling tea?", "Darjeeling First Flush 100 g", "₹450"),
        ("mug ka price kya hai", "Ceramic Tea Mug", "₹299"),
        ("मग कितने का है", "Ceramic Tea Mug", "₹299"),
        ("honey kitne ka hai?", "Wild Forest Honey 250 g", "₹275"),
        ("what's in the masala chai?", "Masala Chai 250 g", "₹250"),
    ],
)
async def test_a_price_question_gets_the_price_and_an_add_button(text, product, price):
    messages, events = await run(ActionAnswerProduct(), tracker(text, "ask_product"))
    assert said(messages) == ["utter_product_details"]
    assert messages[0]["product"] == product and messages[0]["price"] == price
    assert events == []  # nothing added by asking


async def test_what_is_in_a_blend_comes_from_the_catalog():
    messages, _ = await run(
        ActionAnswerProduct(), tracker("masala chai mein kya hai", "ask_product")
    )
    assert "cardamom" in messages[0]["about"]


async def test_availability_cheapest_and_a_gift_under_a_budget():
    messages, _ = await run(
        ActionAnswerProduct(), tracker("is green tea available?", "ask_product")
    )
    assert said(messages) == ["utter_product_in_stock"]
    messages, _ = await run(ActionAnswerProduct(), tracker("sabse sasta kya hai", "ask_product"))
    assert said(messages) == ["utter_product_cheapest"]
    assert messages[0]["product"] == "Steel Tea Strainer"
    messages, _ = await run(ActionAnswerProduct(), tracker("a gift under ₹300", "ask_product"))
    assert said(messages) == ["utter_products_under"] and messages[0]["budget"] == "₹300"
    prices = [b["description"] for b in messages[0]["buttons"]]
    assert prices and all(int(p.strip("₹").replace(",", "")) <= 300 for p in prices)
    assert all(b["payload"].startswith("/add_to_cart{") for b in messages[0]["buttons"])


async def test_a_question_and_an_add_in_one_message_do_both():
    text = "Also please add the honey. How much is the darjeeling?"
    for action, intent in (
        (ActionAnswerProduct(), "ask_product"),
        (ActionAddToCart(), "add_to_cart"),
    ):
        messages, events = await run(action, tracker(text, intent))
        assert set(said(messages)) == {"utter_product_details", "utter_added"}, action
        answer = next(m for m in messages if m["response"] == "utter_product_details")
        assert answer["product"].startswith("Darjeeling")
        assert slots_of(events)["cart"] == [{"sku": "wild-honey-250g", "quantity": 1}]


async def test_the_menu_intent_with_a_price_question_answers_it():
    messages, _ = await run(ActionShowCatalog(), tracker("mug kitne ka hai", "browse_products"))
    assert said(messages) == ["utter_product_details"]
    messages, _ = await run(ActionShowCatalog(), tracker("show me the menu", "browse_products"))
    assert said(messages) == ["utter_menu"]


# --- shop policies, from the test shop.yml ---------------------------------------------
@pytest.mark.parametrize(
    "text, response, expected",
    [
        ("bhaiya COD milega kya?", "utter_policy_cod_yes", {}),
        ("koi discount hai?", "utter_policy_no_discounts", {}),
        (
            "do u deliver in chennai??",
            "utter_policy_delivers_to",
            {"place": "Chennai", "days": "3-4"},
        ),
        ("बेंगलुरु में डिलीवरी करते हो?", "utter_policy_delivers_to", {"place": "Bengaluru"}),
        ("do you deliver to 560034?", "utter_policy_delivers_to", {"place": "Bengaluru"}),
        ("do u deliver in pune??", "utter_policy_delivery_areas", {}),
        ("do you deliver to 411001", "utter_policy_no_delivery_to_pincode", {"pincode": "411001"}),
        (
            "what's the delivery charge?",
            "utter_policy_shipping",
            {"fee": "₹40", "free_above": "₹600"},
        ),
        ("customer care ka number do", "utter_policy_contact", {"contact": "+91 90000 00000"}),
    ],
)
async def test_policy_answers_come_from_shop_yml(text, response, expected):
    messages, _ = await run(ActionAnswerPolicy(), tracker(text, "ask_policy"))
    assert said(messages)[0] == response
    assert expected.items() <= values(messages[0]).items()


def test_a_pin_code_is_passed_as_a_value_the_response_words():
    """No "PIN 411001" made in code: the response says it in the customer's language."""
    pune = {"name": "Pune", "pin_prefixes": ["411"], "days": "2-3"}
    shop = parse_shop({"name": "Chai & Co.",
                       "delivery": {"areas": [pune], "elsewhere_days": "5-7"}})
    assert policy_answer(shop, Topic.DELIVERY, "do you deliver to 110001?") == (
        "utter_policy_delivers_to_pincode", {"pincode": "110001", "days": "5-7"}
    )
    assert policy_answer(shop, Topic.DELIVERY, "411014 pe delivery?") == (
        "utter_policy_delivers_to", {"place": "Pune", "days": "2-3"}
    )


async def test_what_shop_yml_does_not_say_gets_i_dont_know_and_a_person():
    messages, _ = await run(ActionAnswerPolicy(), tracker("return kar sakte hain?", "ask_policy"))
    assert said(messages) == ["utter_policy_unknown", "utter_offer_person"]


def test_the_shipped_shop_file_loads_and_a_missing_file_knows_nothing(tmp_path):
    shop = load_shop(REAL_SHOP)
    assert shop.cash_on_delivery is False and shop.discounts and shop.area_named_in("pune")
    assert load_shop(tmp_path / "none.yml") == Shop()
    with pytest.raises(ShopError):
        parse_shop({"cash_on_delivery": "maybe"})
    with pytest.raises(ShopError):
        parse_shop({"delivery": {"areas": [{"name": "X", "pin_prefixes": ["abc"]}]}})


async def test_a_delivery_question_before_any_order_is_answered_from_the_shop():
    messages, _ = await run(
        ActionOrderStatus(), tracker("When will it be delivered?", "order_status")
    )
    assert said(messages)[0] == "utter_policy_delivery_areas"
    messages, _ = await run(ActionOrderStatus(), tracker("mera order kahan hai", "order_status"))
    assert said(messages) == ["utter_no_orders"]


# --- the checkout form bends ---------------------------------------------------------
@pytest.mark.parametrize(
    "slot, method",
    [
        ("customer_name", "validate_customer_name"),
        ("delivery_address", "validate_delivery_address"),
        ("pincode", "validate_pincode"),
    ],
)
async def test_a_question_at_a_form_prompt_is_answered_never_stored(slot, method):
    form = ValidateCheckoutForm()
    t = tracker("do u deliver in chennai??", "inform", cart=CART, requested_slot=slot)
    dispatcher = CollectingDispatcher()
    result = await getattr(form, method)("do u deliver in chennai??", dispatcher, t, {})
    assert result[slot] is None
    assert said(dispatcher.messages) == ["utter_policy_delivers_to"]


async def test_a_real_address_and_name_are_kept():
    form = ValidateCheckoutForm()

    t = tracker("x", "inform", cart=CART)
    d = CollectingDispatcher()
    assert (await form.validate_delivery_address("12 MG Road, Pune", d, t, {}))[
        "delivery_address"
    ] == "12 MG Road, Pune"
    assert (await form.validate_customer_name("Asha Rao", d, t, {}))["customer_name"] == "Asha Rao"
    assert d.messages == []


async def test_a_wrong_pin_is_one_message():
    form = ValidateCheckoutForm()

    d = CollectingDispatcher()
    result = await form.validate_pincode("12345", d, tracker("12345", "inform"), {})
    assert result == {"pincode": None, "invalid_detail": "pincode"} and d.messages == []
    messages, events = await run(
        ActionAskPincode(), tracker("12345", "inform", invalid_detail="pincode")
    )
    assert said(messages) == ["utter_invalid_pincode"]
    assert slots_of(events) == {"invalid_detail": None}
    messages, _ = await run(ActionAskPincode(), tracker("/checkout", "checkout"))
    assert said(messages) == ["utter_ask_pincode"]


async def test_the_confirmation_waits_until_placed_stopped_or_changed():
    details = {
        "customer_name": "Asha Rao",
        "delivery_address": "12 MG Road, Pune",
        "pincode": "411001",
    }
    _, events = await run(
        ActionAskOrderConfirmation(), tracker("x", "inform", cart=CART, **details)
    )
    assert slots_of(events) == {"awaiting_confirmation": True}
    _, events = await run(ActionPlaceOrder(), tracker("/affirm", "affirm", cart=CART, **details))
    assert slots_of(events)["awaiting_confirmation"] is False
    assert slots_of(events)["order_pending"] is True
    _, events = await run(
        ActionStopCheckout(), tracker("/stop", "stop", awaiting_confirmation=True)
    )
    assert slots_of(events) == {"awaiting_confirmation": False}
    detail = [{"entity": "detail", "value": "delivery_address"}]
    _, events = await run(
        ActionResetDetail(), tracker("address badalna hai", "change_details", entities=detail)
    )
    assert slots_of(events) == {"delivery_address": None, "awaiting_confirmation": False}


async def test_cancel_my_order_after_placing_goes_to_a_person():
    messages, _ = await run(
        ActionStopCheckout(), tracker("cancel my order", "stop", order_pending=True)
    )
    assert said(messages) == ["utter_cancel_request", "utter_offer_person"]


# --- the fallback ---------------------------------------------------------------------
async def test_the_fallback_offers_next_steps_and_never_repeats_itself():
    t = tracker("asdf qwer", "nlu_fallback", cart=CART)
    messages, _ = await run(ActionDefaultFallback(), t)
    assert said(messages) == ["utter_default_cart"]
    t.events.append(
        {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_default_cart"}}
    )
    t.events.append({"event": "user", "text": "zzz"})
    messages, _ = await run(ActionDefaultFallback(), t)
    assert said(messages) == ["utter_default_cart_again"]
    messages, _ = await run(ActionDefaultFallback(), tracker("???", "nlu_fallback"))
    assert said(messages) == ["utter_default"]
    messages, _ = await run(
        ActionDefaultFallback(),
        tracker("???", "nlu_fallback", cart=CART, awaiting_confirmation=True),
    )
    assert said(messages) == ["utter_default_confirm"]


def test_questions_are_told_from_answers():
    assert looks_like_question("do u deliver in pune??")
    assert looks_like_question("kitne din mein aayega")
    assert looks_like_question("डिलीवरी कितने दिन में होगी")
    for answer in (
        "Priya Sharma",
        "Flat 302, Sunshine Apartments, MG Road, Bengaluru",
        "560001",
        "आशा राव",
        "H.No 12, Sector 15, Gurgaon",
    ):
        assert not looks_like_question(answer), answer
    assert policy_topic("bhaiya COD milega kya?") is Topic.COD
    assert policy_topic("delivery charge kitna hai") is Topic.SHIPPING
    assert product_ask("a gift under ₹500").value == "budget"
    # A holiday is a question about the shop's hours; gifts in the plural are gifts.
    for closed in ("are you closed on sunday", "kal dukaan band hai?", "भाई कल छुट्टी है क्या"):
        assert policy_topic(closed) is Topic.SUPPORT, closed
    for gift in ("tohfe ke liye kya hai", "तोहफ़े के लिए क्या क्या रखा है", "तोहफे दिखाओ"):
        assert product_ask(gift).value == "gift", gift


async def test_the_fallback_answers_what_nlu_was_unsure_of():
    text = "Also please add the honey. How much is the darjeeling?"
    messages, events = await run(ActionDefaultFallback(), tracker(text, "nlu_fallback"))
    assert set(said(messages)) == {"utter_product_details", "utter_added"}
    assert slots_of(events)["cart"] == [{"sku": "wild-honey-250g", "quantity": 1}]
    placed = tracker(
        "I already confirmed! place the order",
        "nlu_fallback",
        cart=CART,
        awaiting_confirmation=True,
    )
    messages, events = await run(ActionDefaultFallback(), placed)
    assert messages == [] and events == [
        {"event": "followup", "timestamp": None, "name": "action_place_order"}
    ]
