"""What a trained model understands: the confusions customers met, and their kin.

Each phrase below was misread by an earlier model ("no thanks" as thanks, "cancel the
strainer" as stopping the checkout, ...) or is an unseen variant of one, in English,
Hinglish and Hindi. None of them is in the training data (checked below): the data
was fixed with other wordings, so passing means the model generalises, not that it
remembers these strings.

Runs against models/checkout.tar.gz (`make train`; `make test` trains it first) or the
model in NLU_MODEL (`rasa train nlu --out /tmp/nlu` is enough), and skips without one.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(os.environ.get("NLU_MODEL") or ROOT / "models" / "checkout.tar.gz")

pytestmark = pytest.mark.skipif(
    not MODEL.exists(), reason=f"no trained model at {MODEL}: run `make train` (make test does)"
)

CONFUSIONS = [
    # "no thanks" is a no, not a thank-you
    ("no thanks", "deny"),
    ("no thanks bhai", "deny"),
    ("nope thank you", "deny"),
    ("nahi thank you", "deny"),
    ("नहीं, धन्यवाद", "deny"),
    # cancelling a product removes it; it does not stop the checkout
    ("cancel the strainer", "remove_from_cart"),
    ("cancel the kulhad set", "remove_from_cart"),
    ("strainer cancel kar do", "remove_from_cart"),
    ("छन्नी कैंसल कर दीजिए", "remove_from_cart"),
    # taking a product out removes it; it is no change of quantity
    ("take out the cookies", "remove_from_cart"),
    ("take the mugs out", "remove_from_cart"),
    ("cookies nikaal do cart se", "remove_from_cart"),
    ("कुकीज़ बाहर निकाल दो", "remove_from_cart"),
    # done shopping is the checkout, not a question about an order
    ("i'm done shopping", "checkout"),
    ("i am done shopping now", "checkout"),
    ("shopping ho gayi bhai, order kar do", "checkout"),
    ("बस हो गई शॉपिंग, ऑर्डर कर दो", "checkout"),
    # "everything" to see is browsing, not a delivery detail
    ("show me everything", "browse_products"),
    ("show me everything you have", "browse_products"),
    ("sab kuch dikha do", "browse_products"),
    ("जो भी है सब दिखाओ", "browse_products"),
]

# Their neighbours keep their meaning: thanks, stopping, changing a quantity, status.
NEIGHBOURS = [
    ("thank you so much bhai", "thank"),
    ("बहुत बहुत शुक्रिया जी", "thank"),
    ("cancel the checkout please", "stop"),
    ("make the cookies 3", "change_quantity"),
    ("where is my order now?", "order_status"),
]

# Unseen Hindi in Devanagari, one or two per flow.
HINDI = [
    ("तीन मग भेज दीजिए", "add_to_cart"),
    ("मसाला चाय हटा दो", "remove_from_cart"),
    ("कार्ट में क्या क्या पड़ा है", "view_cart"),
    ("चलो अब ऑर्डर कर देते हैं", "checkout"),
    ("पेमेंट का लिंक नहीं आया", "pay_now"),
    ("मेरा पार्सल कहाँ पहुँचा", "order_status"),
    ("नमस्ते भैया", "greet"),
]

# The five phrases customers were misread on (issue 13): these must go right.
NAMED = {"no thanks", "cancel the strainer", "take out the cookies", "i'm done shopping",
         "show me everything"}
MUST = [case for case in CONFUSIONS if case[0] in NAMED] + NEIGHBOURS
# Their unseen kin, in three languages: a measure of generalising, so a share of them.
KIN = [case for case in CONFUSIONS if case[0] not in NAMED] + HINDI
KIN_SHARE = 0.85

CASES = CONFUSIONS + NEIGHBOURS + HINDI


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL))

    async def parse_all() -> dict[str, dict]:
        return {text: await agent.parse_message(text) for text, _ in CASES}

    return asyncio.run(parse_all())


def test_the_phrases_are_not_in_the_training_data() -> None:
    examples = load_data(str(ROOT / "data" / "nlu")).intent_examples
    seen = {example.get("text").lower() for example in examples}
    assert [text for text, _ in CASES if text.lower() in seen] == []


@pytest.mark.parametrize(("text", "intent"), MUST, ids=[text for text, _ in MUST])
def test_intent(parsed, text, intent) -> None:
    assert parsed[text]["intent"]["name"] == intent


def test_unseen_kin_are_understood(parsed) -> None:
    # Borderline unseen wordings can flip when the data grows; most must go right.
    wrong = [
        (text, intent, parsed[text]["intent"]["name"])
        for text, intent in KIN
        if parsed[text]["intent"]["name"] != intent
    ]
    assert len(wrong) <= (1 - KIN_SHARE) * len(KIN), wrong


def entities(result: dict, name: str) -> list[str]:
    return [e["value"] for e in result.get("entities", []) if e["entity"] == name]


def test_hindi_quantity_and_product_are_entities(parsed) -> None:
    result = parsed["तीन मग भेज दीजिए"]
    assert entities(result, "quantity") == ["तीन"]
    assert entities(result, "product") == ["मग"]
