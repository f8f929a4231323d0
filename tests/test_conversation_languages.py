"""A checkout in each language with the real Agent (trained model) and action server:
the customer writes Hinglish or Hindi and every reply, from the cart to the payment
confirmation, comes back in kind. Button taps and delivery details keep the language.

The replies are checked for a phrase of the expected variation in domain.yml.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from orders.store import OrderStatus, get_store

MODEL = Path(os.environ.get("CHECKOUT_MODEL", "models/checkout.tar.gz"))
DEVANAGARI = re.compile(r"[\u0900-\u097F]")

pytestmark = pytest.mark.skipif(
    not MODEL.exists(), reason=f"{MODEL} is not trained yet (`make train`)"
)

# (what the customer sends, a phrase each reply of that turn must have, in order)
HINGLISH = [
    ("mujhe 2 masala chai aur ek mug chahiye", ["cart mein daal diya"]),
    ("ok", None),  # "ok" keeps the language, whatever it is understood as
    ("/checkout", ["Parcel pe kiska naam"]),  # the cart is shown once, in the summary
    ("Amit Kumar", ["poora address"]),
    ("H.No 12, Sector 15, Gurgaon", ["6 digit ka PIN"]),
    ("122001", ["Apna order check"]),
    ("/affirm", ["place ho gaya", "safely pay kijiye"]),
]
HINDI = [
    ("मुझे दो मसाला चाय और एक मग चाहिए", ["कार्ट में डाल दिया"]),
    ("/checkout", ["पार्सल पर किसका नाम"]),
    ("आशा राव", ["पूरा पता"]),
    ("फ़्लैट 4, एमजी रोड, बेंगलुरु", ["6 अंकों का पिन"]),
    ("560001", ["अपना ऑर्डर जाँच"]),
    ("/affirm", ["हो गया 🎉", "सुरक्षित पेमेंट"]),
]
CONFIRMED = {"hi-Latn": "Payment ho gaya!", "hi": "पेमेंट सफल रहा!"}
CUSTOMERS = {"hi-Latn": "919800000002", "hi": "919800000003"}


@pytest.fixture
def agent(checkout_agent: Agent) -> Agent:
    return checkout_agent


async def say(agent: Agent, customer: str, text: str) -> list[str]:
    output = CollectingOutputChannel()
    await agent.handle_message(UserMessage(text, output, customer))
    return [m["text"] for m in output.messages if m.get("text")]


@pytest.mark.parametrize("language, script", [("hi-Latn", HINGLISH), ("hi", HINDI)])
async def test_checkout_is_answered_in_the_customers_language(agent, language, script):
    customer = CUSTOMERS[language]
    for text, phrases in script:
        replies = await say(agent, customer, text)
        assert all(bool(DEVANAGARI.search(r)) is (language == "hi") for r in replies), replies
        for phrase in phrases or []:
            assert any(phrase in reply for reply in replies), (text, phrase, replies)
    tracker = await agent.tracker_store.retrieve(customer)
    assert tracker.get_slot("language") == language
    number = int(tracker.get_slot("order_number"))

    # Razorpay's webhook has the order paid; the notifier triggers the confirmation.
    await get_store().transition(number, OrderStatus.PAID, payment_id="pay_1")
    output = CollectingOutputChannel()
    await agent.trigger_intent(
        "EXTERNAL_payment_received",
        [{"entity": "order_number", "value": str(number)}],
        output,
        await agent.processor.fetch_tracker_and_update_session(customer, output),
    )
    [confirmation] = [m["text"] for m in output.messages]
    assert CONFIRMED[language] in confirmation and f"#{number}" in confirmation


async def test_english_please_switches_back(agent):
    customer = "919800000001"
    assert "आपका कार्ट खाली है" in " ".join(await say(agent, customer, "मेरा कार्ट दिखाओ"))
    [switched] = await say(agent, customer, "English please")
    assert switched.startswith("Sure, I'll reply in English")
    [help_] = await say(agent, customer, "/help")
    assert help_.startswith("Here's what I can do")
