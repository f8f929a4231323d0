"""A conversation's start: Rasa's own session start (SessionStarted, the last session's
slots carried over when domain.yml's session_config says so, then action_listen) plus
the brand slots, read afresh from shop.yml and catalog.yml, so a rebrand reaches every
new conversation without retraining or a restart."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import catalog
from commerce.brand import brand_slots
from commerce.shop import Shop, ShopError, load_shop

logger = logging.getLogger(__name__)


def carried_over(tracker: Tracker) -> dict[str, Any]:
    """The slots the last session set (as Rasa's default carries them: its SlotSet
    events since that session started, the last value of each)."""
    events = tracker.applied_events()
    starts = [i for i, event in enumerate(events) if event.get("event") == "session_started"]
    since = events[starts[-1] + 1:] if starts else events
    return {e["name"]: e.get("value") for e in since if e.get("event") == "slot"}


def carries_slots_over(domain: dict[str, Any]) -> bool:
    config = domain.get("session_config") or {}
    return bool(config.get("carry_over_slots_to_new_session", True))


def _shop() -> Shop:
    """shop.yml; a broken file is logged and the conversation still starts, unbranded."""
    try:
        return load_shop()
    except ShopError as err:
        logger.error("the brand can't be read: %s", err)
        return Shop()


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        slots = carried_over(tracker) if carries_slots_over(domain) else {}
        # The loaders stat (and re-read when changed) two files: off the event loop.
        products = await asyncio.to_thread(catalog)
        slots.update(brand_slots(await asyncio.to_thread(_shop), products))
        return [
            SessionStarted(),
            *(SlotSet(name, value) for name, value in slots.items()),
            ActionExecuted("action_listen"),
        ]
