"""Telling a customer about an event of ours: an EXTERNAL_ intent, run in their
conversation, and what that turn says, put in the outbox.

`ExternalTurns` injects an intent the way Rasa's `/conversations/<id>/trigger_intent`
route does (a rule runs the action or response that words the message) and writes the
turn's messages to the outbox for the channel the customer last wrote on;
`durable.sender` sends them. A conversation a person has taken over (paused, see
`handover`) still gets such a turn: Rasa predicts nothing while paused, so it is
resumed for the turn and paused again.

`ConversationNotifier` does this for payments: `orders.payment_events` (or the
reconciler, for a confirmation never sent) decides that the customer is to be told;
under the conversation's lock the notifier checks that a confirmation is still due
(neither recorded on the order nor waiting in the outbox) and runs the outcome's
intent. The sender records the confirmation once WhatsApp accepted it. The
confirmation carries PAYMENT_CONFIRMATION_TEMPLATE (`orders.confirmation_template`),
sent in its place to a customer whose 24-hour window is closed.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import OutputChannel
from rasa.shared.core.events import ConversationPaused, ConversationResumed

from durable.outbox import Outbox
from durable.sender import OutboxSender
from orders import confirmation_template
from orders.payment_events import Applied, Outcome
from orders.store import Order, OrderStore

logger = logging.getLogger(__name__)


class _TurnMessages(OutputChannel):
    """Keeps what a triggered turn says, to be sent once the turn is over."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.messages.append(dict(message))


@functools.cache
def _turn_messages_named(channel_name: str) -> type[_TurnMessages]:
    # Named after the customer's channel: the injected intent is then recorded as on
    # that channel (so the next notice finds it again), and responses are chosen for it.
    return type(
        f"TurnMessages[{channel_name}]",
        (_TurnMessages,),
        {"name": classmethod(lambda cls: channel_name)},
    )


class ExternalTurns:
    """Runs an external intent in a customer's conversation and queues what it said."""

    def __init__(self, outbox: Outbox, sender: OutboxSender) -> None:
        self._outbox = outbox
        self._sender = sender

    async def run(
        self,
        agent: Agent,
        customer_id: str,
        intent: str,
        entities: list[dict[str, Any]],
        source: str,
        confirms: Order | None = None,
        resume: bool = False,
    ) -> list[dict[str, Any]] | None:
        """Run `intent` for `customer_id` (the caller holds the conversation's lock) and
        queue the turn's messages under `source`; with `confirms`, as the confirmation
        of that paid order, carrying its template. Returns them when nobody can push
        them (rasa shell, REST: they are only in the tracker), None once they are
        queued. A paused conversation is paused again after the turn, unless `resume`."""
        known = await agent.processor.get_tracker(customer_id)
        channel_name = known.get_latest_input_channel()
        turn = _turn_messages_named(channel_name or "")()
        tracker = await agent.processor.fetch_tracker_and_update_session(customer_id, turn)
        paused = tracker.is_paused()
        if paused:
            # Rasa's processor predicts nothing in a paused conversation.
            tracker.update(ConversationResumed())
        await agent.trigger_intent(
            intent_name=intent, entities=entities, output_channel=turn, tracker=tracker
        )
        if paused and not resume:
            tracker.update(ConversationPaused())
            await agent.processor.save_tracker(tracker)
        if not self._sender.can_send(channel_name):
            for message in turn.messages:
                logger.info("Message for %s (no push channel): %s", customer_id, message)
            return turn.messages
        messages = turn.messages
        if confirms is not None:
            language = tracker.get_slot("language") if "language" in tracker.slots else None
            fallback = confirmation_template.fallback_template(confirms, language)
            messages = confirmation_template.attach(messages, fallback)
        number = confirms.number if confirms is not None else None
        await self._outbox.add(
            customer_id, channel_name or "", source, messages, confirms_order=number
        )
        return None


class ConversationNotifier:
    """Runs the intent that matches a payment outcome in the customer's conversation, and
    sends what it said."""

    def __init__(
        self,
        agent: Callable[[], Agent | None],
        outbox: Outbox,
        sender: OutboxSender,
        store: OrderStore,
    ) -> None:
        self._agent = agent
        self._outbox = outbox
        self._sender = sender
        self._store = store
        self.turns = ExternalTurns(outbox, sender)

    async def notify(self, applied: Applied, source: str | None = None) -> bool:
        """Have the customer told about `applied`: True once it is in the outbox (or
        nothing is due), False when it could not be put there (yet). `source` names
        the cause (an inbox item), so that running it twice queues it once."""
        intent = applied.notify_intent
        if intent is None or applied.order_number is None or not applied.customer_id:
            return True
        agent = self._agent()
        if agent is None or not agent.is_ready():
            logger.error(
                "No Rasa model loaded: order #%s not told about %s (the "
                "reconciler retries confirmations)",
                applied.order_number,
                intent,
            )
            return False
        if intent not in agent.domain.intents:
            logger.error(
                "Intent %s is not in the domain: order #%s not told (add it and "
                "its rule, then retrain)",
                intent,
                applied.order_number,
            )
            return False
        sender = applied.customer_id
        number = applied.order_number
        confirming = applied.outcome is Outcome.PAID
        # The lock makes "still due?" and "queued" one step: a webhook's notice and a
        # reconciler pass for the same order cannot both confirm.
        async with agent.lock_store.lock(sender):
            order = await self._store.get(number)
            if order is None:
                return False
            due = not confirming or not (
                order.confirmation_sent_at or await self._outbox.confirmation_recorded(number)
            )
            if due:
                unsent = await self.turns.run(
                    agent,
                    sender,
                    intent,
                    [{"entity": "order_number", "value": str(number)}],
                    source or f"notice:{uuid.uuid4().hex}",
                    confirms=order if confirming else None,
                )
                if unsent and confirming:
                    await self._store.mark_confirmation_sent(number)
        # Outside the lock: the customer's next turn need not wait for Meta.
        await self._sender.flush(sender)
        return True
