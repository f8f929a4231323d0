"""Handing the conversation to a person: the customer asked for one, the bot failed to
understand three times in a row, a refund or a cancellation (which only a person can
do), or money deducted for a payment that did not go through.

`handover.begin` records it and tells the merchant; here the customer is told when a
person will answer (the support hours in shop.yml, or honestly that we can't say) and
the conversation is paused: Rasa stays quiet for this customer until the person hands
it back (`EXTERNAL_handover_ended`, see the handover package). A checkout form in
progress ends with the handover, whatever led to it (asked for at a checkout prompt, a
rule ends it first: data/rules/handover.yml), so the bot does not ask for the address
again when the person hands back; the cart stays.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

import handover
from commerce.shop import load_shop

# Why a customer waits for a person (the merchant's inbox shows it).
ASKED = "asked"
CANCEL = "cancel"
FALLBACKS = "fallbacks"
MONEY_DEDUCTED = "money_deducted"
REFUND = "refund"

# What a customer's message, or the one just before "talk to a person", was about.
REASON_OF_INTENT = {
    "request_refund": REFUND,
    "cancel_order": CANCEL,
    "money_deducted": MONEY_DEDUCTED,
}


def _user_intents(tracker: Tracker) -> list[str]:
    """The customer's intents, latest first."""
    return [
        str(((event.get("parse_data") or {}).get("intent") or {}).get("name") or "")
        for event in reversed(tracker.events)
        if event.get("event") == "user"
    ]


def handover_reason(tracker: Tracker) -> str:
    """"I want a refund": refund; "cancel my order": cancel; "talk to a person" tapped
    under the answer about a deducted payment: money_deducted; otherwise the customer
    asked."""
    intents = _user_intents(tracker)[:2]
    for intent in intents:
        if intent in REASON_OF_INTENT:
            return REASON_OF_INTENT[intent]
    return ASKED


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], reason: str
) -> list[dict[str, Any]]:
    """Start the handover, tell the customer, end a form in progress, and pause the bot
    for them."""
    channel = tracker.get_latest_input_channel() or ""
    started = await handover.begin(tracker.sender_id, channel, reason, domain)
    hours = load_shop().support_hours
    if not started:
        dispatcher.utter_message(response="utter_handover_already")
    elif hours:
        dispatcher.utter_message(response="utter_handover_started", hours=hours)
    else:
        dispatcher.utter_message(response="utter_handover_started_no_hours")
    ended_form = (
        [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop_name else []
    )
    return [*ended_form, ConversationPaused()]


class ActionHandOver(Action):
    """ "Can I talk to a human?", "customer care se baat karni hai", a refund, a
    cancellation, or the "talk to a person" button."""

    def name(self) -> str:
        return "action_hand_over"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await hand_over(dispatcher, tracker, domain, handover_reason(tracker))
