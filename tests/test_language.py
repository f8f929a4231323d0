"""The `language` slot follows the customer's latest clear choice of language."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionDetectLanguage, chosen_language
from language.detect import EN, HINDI, HINGLISH, detect, requested


@pytest.mark.parametrize(
    "text, language",
    [
        ("show me the menu", EN),
        ("where is my order?", EN),
        ("I want a mug and some green tea", EN),
        ("cancel the strainer", EN),
        ("menu dikhao", HINGLISH),
        ("mujhe 2 masala chai chahiye", HINGLISH),
        ("ek kulhad set bhi daal do", HINGLISH),
        ("my order kahan hai", HINGLISH),  # English words slip into Hinglish
        ("payment hua kya?", HINGLISH),
        ("दो मसाला चाय", HINDI),
        ("मेरा ऑर्डर कहाँ है?", HINDI),
        ("हाँ", HINDI),  # Devanagari is a choice of script, even in one word
        ("2 मसाला चाय", HINDI),
    ],
)
def test_clear_messages_name_their_language(text, language):
    assert detect(text) == language


@pytest.mark.parametrize(
    "text",
    ["ok", "2", "masala chai", "👍", "checkout", "no thanks", "yes please", "Asha Rao",
     "Flat 302, MG Road, Bengaluru", '/add_to_cart{"product":"ceramic-mug"}', "", None],
)
def test_unclear_messages_do_not_switch(text):
    assert detect(text) is None


NAMES = ["Kulhad Set of 6", "Masala Chai 250 g", "कुल्हड़ सेट"]


@pytest.mark.parametrize(
    "text, language",
    [
        ("Kulhad Set of 6", None),  # a product's name, typed as the catalog writes it
        ("kulhad set of 6", None),
        ("ek kulhad set of 6 chahiye", HINGLISH),
        ("I want the Kulhad Set of 6", EN),
        ("set of 6 cups", EN),  # not a name of the catalog: English words
    ],
)
def test_product_names_say_nothing_about_the_language(text, language):
    assert detect(text, NAMES) == language


@pytest.mark.parametrize(
    "text, language",
    [
        ("English please", EN),
        ("angrezi mein batao", EN),
        ("Hindi mein bolo", HINGLISH),  # asked in Latin letters: answered in them
        ("हिंदी में बात करो", HINDI),
        ("can you write in devanagari", HINDI),
        ("english nahi aati, hindi mein samjhao", HINGLISH),  # the last one named
        ("i don't read hindi, english only", EN),
        ("change the language", None),
    ],
)
def test_asking_for_a_language_by_name(text, language):
    assert requested(text) == language


def message(text: str, intent: str) -> dict:
    return {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}


@pytest.mark.parametrize(
    "text, intent, language",
    [
        ("English please", "switch_language", EN),
        ("Hindi mein bolo", "switch_language", HINGLISH),
        ("mujhe chai chahiye", "add_to_cart", HINGLISH),
        # a delivery detail is a name or an address, never a choice of language
        ("Gali 4 ke paas, Laxmi Nagar", "inform", None),
        ("EXTERNAL: payment received", "EXTERNAL_payment_received", None),
    ],
)
def test_the_choice_depends_on_the_intent(text, intent, language):
    assert chosen_language(message(text, intent)) == language


async def run(text: str, intent: str, current: str) -> list:
    tracker = Tracker("customer", {"language": current}, message(text, intent), [], False,
                      None, {}, "action_listen")
    return await ActionDetectLanguage().run(CollectingDispatcher(), tracker, {})


async def test_the_slot_is_set_only_when_the_language_changes():
    assert await run("mujhe 2 chai chahiye", "add_to_cart", EN) == [SlotSet("language", HINGLISH)]
    assert await run("mujhe 2 chai chahiye", "add_to_cart", HINGLISH) == []
    assert await run("ok", "affirm", HINDI) == []
    # the shipped catalog's name leaves the language as it was
    assert await run("Kulhad Set of 6", "add_to_cart", HINGLISH) == []
