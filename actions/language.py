"""The `language` slot: which language the bot answers in (see language/detect.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import catalog
from language.detect import detect, requested

# Delivery details are names and addresses, not a choice of language.
NOT_A_CHOICE = {"inform"}


def chosen_language(message: dict[str, Any], names: Iterable[str] = ()) -> str | None:
    """The language the customer's latest message chooses, or None when it does not;
    `names`, the catalog's product names, choose none."""
    intent = (message.get("intent") or {}).get("name") or ""
    text = message.get("text")
    if intent in NOT_A_CHOICE or intent.startswith("EXTERNAL_"):
        return None
    if intent == "switch_language":
        return requested(text) or detect(text, names)
    return detect(text, names)


class ActionDetectLanguage(Action):
    """The `language` slot's custom mapping: Rasa runs it after every customer message,
    before any reply, so the replies of that very turn are in the chosen language."""

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = chosen_language(tracker.latest_message or {}, catalog().names())
        if language is None or language == tracker.get_slot("language"):
            return []
        return [SlotSet("language", language)]
