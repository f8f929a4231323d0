"""Handing a conversation to a person, the customer's side: asking for one (also inside
the checkout form), a refund, three fallbacks in a row. Custom actions run with real
trackers (tests/fixtures) and the real handovers table on SQLite."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handover import ActionHandOver
from actions.questions import ActionDefaultFallback, not_understood_in_a_row
from handover.store import HandoverStore
from orders.store import get_store
from sandbox.harness.razorpay_stack import CUSTOMER
from tests.test_actions import said, tracker

FIXTURES = Path(__file__).parent / "fixtures"
REAL_SHOP = Path(__file__).parent.parent / "shop.yml"


@cache
def domain() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text())


@pytest.fixture(autouse=True)
def test_shop(monkeypatch):
    # The test shop names no support hours.
    monkeypatch.setenv("SHOP_FILE", str(FIXTURES / "shop.yml"))
    yield
    get_store().dispose()


def fixture_tracker(name: str) -> Tracker:
    return Tracker.from_dict(json.loads((FIXTURES / name).read_text()))


async def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain())
    return dispatcher.messages, events


def active_handover(customer: str = CUSTOMER):
    return HandoverStore(get_store().engine).active(customer)


def with_events(t: Tracker, *earlier: dict) -> Tracker:
    """`t` with `earlier` events before its latest message."""
    return Tracker(
        t.sender_id, t.slots, t.latest_message, [*earlier, *t.events], False, None, {}, ""
    )


def user(text: str, intent: str) -> dict:
    return {
        "event": "user",
        "text": text,
        "input_channel": "whatsapp",
        "parse_data": {"intent": {"name": intent}},
    }


async def test_asking_at_the_name_prompt_hands_over_and_pauses():
    messages, events = await run(
        ActionHandOver(), fixture_tracker("tracker_person_at_name_prompt.json")
    )
    # The test shop names no hours: no promise of when.
    assert said(messages) == ["utter_handover_started_no_hours"]
    # The form ends: the person hands back a conversation that asks for nothing.
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
    handover = active_handover()
    assert (handover.reason, handover.channel) == ("asked", "whatsapp")


async def test_the_support_hours_from_shop_yml_are_told(monkeypatch):
    monkeypatch.setenv("SHOP_FILE", str(REAL_SHOP))
    messages, events = await run(
        ActionHandOver(),
        tracker("Can I talk to a human please?", "talk_to_human", channel="whatsapp"),
    )
    assert said(messages) == ["utter_handover_started"]
    assert messages[0]["hours"] == "10 am – 7 pm, Mon–Sat"
    assert events == [ConversationPaused()]


async def test_asking_again_while_a_person_has_the_chat_starts_no_second_handover():
    asking = tracker("talk to a real person", "talk_to_human", channel="whatsapp")
    await run(ActionHandOver(), asking)
    first = active_handover()
    messages, events = await run(ActionHandOver(), asking)
    assert said(messages) == ["utter_handover_already"]
    assert events == [ConversationPaused()]
    assert active_handover().id == first.id


async def test_a_refund_is_handed_over_as_a_refund():
    await run(ActionHandOver(), tracker("I want a refund", "request_refund", channel="whatsapp"))
    assert active_handover().reason == "refund"


async def test_a_cancellation_is_handed_over_as_one():
    await run(ActionHandOver(), tracker("cancel my order", "cancel_order", channel="whatsapp"))
    assert active_handover().reason == "cancel"


async def test_a_refund_asked_inside_the_checkout_form_ends_the_form():
    in_form = fixture_tracker("tracker_person_at_name_prompt.json")
    refund = user("paisa wapas chahiye", "request_refund")
    asking = Tracker(
        in_form.sender_id,
        in_form.slots,
        refund["parse_data"],
        [*in_form.events, refund],
        False,
        None,
        in_form.active_loop,
        "action_listen",
    )
    _, events = await run(ActionHandOver(), asking)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
    assert active_handover().reason == "refund"


async def test_an_unknown_reason_is_refused_and_records_nothing():
    import handover

    with pytest.raises(ValueError, match="unknown handover reason"):
        await handover.begin(CUSTOMER, "whatsapp", "bored", domain())
    assert active_handover() is None


async def test_the_person_button_under_a_deducted_payment_keeps_that_reason():
    asking = with_events(
        tracker("/talk_to_human", "talk_to_human", channel="whatsapp"),
        user("paisa kat gaya but payment failed 😡", "money_deducted"),
        {"event": "action", "name": "action_check_deducted_payment"},
    )
    await run(ActionHandOver(), asking)
    assert active_handover().reason == "money_deducted"


# --- three fallbacks in a row ----------------------------------------------------------
async def test_the_third_not_understood_in_a_row_hands_over():
    third = fixture_tracker("tracker_two_fallbacks.json")
    assert not_understood_in_a_row(third) == 2
    messages, events = await run(ActionDefaultFallback(), third)
    assert said(messages) == ["utter_handover_started_no_hours"]
    assert events == [ConversationPaused()]
    assert active_handover().reason == "fallbacks"


async def test_the_second_not_understood_is_worded_differently_and_keeps_the_bot():
    whole = fixture_tracker("tracker_two_fallbacks.json")
    second = Tracker(
        whole.sender_id,
        whole.slots,
        {"text": "xyzzy plugh", "intent": {"name": "nlu_fallback"}, "entities": []},
        whole.events[:5],
        False,
        None,
        {},
        "action_listen",
    )
    assert not_understood_in_a_row(second) == 1
    messages, events = await run(ActionDefaultFallback(), second)
    assert said(messages) == ["utter_default_again"]
    assert ConversationPaused() not in events
    assert active_handover() is None


async def test_an_understood_message_between_fallbacks_starts_the_count_again():
    whole = fixture_tracker("tracker_two_fallbacks.json")
    understood = [
        user("mug ka price kya hai", "ask_product"),
        {"event": "action", "name": "action_answer_product"},
        {"event": "bot", "text": "₹299", "metadata": {"utter_action": "utter_product_details"}},
        {"event": "action", "name": "action_listen"},
    ]
    # fallback, an answered question, fallback, and now a third message not understood
    events = [*whole.events[:4], *understood, *whole.events[4:]]
    t = Tracker(whole.sender_id, whole.slots, whole.latest_message, events, False, None, {}, "")
    assert not_understood_in_a_row(t) == 1
    messages, result = await run(ActionDefaultFallback(), t)
    assert said(messages) != ["utter_handover_started_no_hours"]
    assert ConversationPaused() not in result
