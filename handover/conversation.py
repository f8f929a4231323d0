"""The Rasa server's side of a handover: what a person does, applied to the conversation.

Three kinds of inbox item, each acknowledged before it is applied and applied in order
with that customer's messages (the inbox's customer key is the customer's id):

- `handover_reply`: the merchant answered on the inbox page. The answer is queued in
  the outbox for the customer's channel and appended to the tracker as a BotUttered
  whose metadata says a person wrote it.
- `handover_end`: "hand back to the bot" (the page, or the quiet-period sweep below;
  one per handover, by its de-duplication key). The conversation is resumed and
  EXTERNAL_handover_ended runs, whose rule says the bot is back.
- `whatsapp_echo`: the merchant answered from the WhatsApp Business app on the bot's
  number (Meta's coexistence). Meta delivered it already: it is only recorded, as the
  person answering, starting a handover when none is open.

While a handover is open the tracker holds `ConversationPaused`: Rasa records the
customer's messages and predicts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from rasa.core.agent import Agent
from rasa.shared.core.constants import EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.events import (
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from channels.notifier import ExternalTurns
from durable.inbox import Inbox, InboxItem, NewItem
from durable.outbox import Outbox
from durable.sender import OutboxSender
from handover.store import (
    ENDED_BY_QUIET,
    Handover,
    HandoverStore,
    quiet_since,
    start_in,
)
from orders.store import utcnow

logger = logging.getLogger(__name__)

REPLY_KIND = "handover_reply"
END_KIND = "handover_end"
ECHO_KIND = "whatsapp_echo"
ENDED_INTENT = "EXTERNAL_handover_ended"
# BotUttered metadata key marking a message a person wrote (not the bot).
PERSON = "person"
VIA_INBOX = "inbox"
VIA_APP = "whatsapp_business_app"
ECHO_REASON = "human_answered"
DEFAULT_QUIET_MINUTES = 30.0
MAX_REPLY_CHARS = 4096  # WhatsApp's limit for a text message
_REPLY_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


def quiet_period(env: dict[str, str] | None = None) -> timedelta:
    raw = (env if env is not None else os.environ).get("HANDOVER_QUIET_MINUTES", "")
    minutes = float(raw) if raw.strip() else DEFAULT_QUIET_MINUTES
    return timedelta(minutes=max(minutes, 0.0))


# -- the inbox items ---------------------------------------------------------------------


def reply_item(customer_id: str, text: str, reply_id: str) -> NewItem:
    """The page's reply; `reply_id` (made by the page) keys it, so a resent form sends once."""
    if not _REPLY_ID.fullmatch(reply_id):
        raise ValueError("reply_id: 8 to 64 letters, digits or dashes")
    return NewItem(REPLY_KIND, customer_id, f"handover-reply:{reply_id}", {"text": text})


def end_item(handover: Handover, by: str) -> NewItem:
    # One hand-back per handover, whoever asks first (the merchant, the quiet sweep).
    payload = {"handover_id": handover.id, "by": by}
    return NewItem(END_KIND, handover.customer_id, f"handover-end:{handover.id}", payload)


# -- applying them -----------------------------------------------------------------------


class HandoverConversations:
    def __init__(
        self,
        agent: Callable[[], Agent | None],
        store: HandoverStore,
        outbox: Outbox,
        sender: OutboxSender,
    ) -> None:
        self._agent = agent
        self.store = store
        self._outbox = outbox
        self._sender = sender
        self._turns = ExternalTurns(outbox, sender)

    def _ready_agent(self) -> Agent:
        agent = self._agent()
        if agent is None or not agent.is_ready():
            raise RuntimeError("no Rasa model loaded yet")
        return agent

    async def reply(self, item: InboxItem) -> None:
        """Send the merchant's answer and record it in the conversation."""
        agent = self._ready_agent()
        customer = item.customer_id
        text = str(item.payload["text"])
        source = f"inbox:{item.id}"
        handover = await asyncio.to_thread(self.store.active, customer)
        async with agent.lock_store.lock(customer):
            tracker = await agent.processor.get_tracker(customer)
            channel = (handover and handover.channel) or tracker.get_latest_input_channel()
            if self._sender.can_send(channel):
                # The outbox first: a crash after it leaves a message that goes out once.
                await self._outbox.add(customer, channel or "", source, [{"text": text}])
            else:
                logger.warning("Reply to %s not sent: channel %r cannot push", customer, channel)
            if not _has_person_message(tracker, source):
                tracker.update(_person_says(text, VIA_INBOX, source))
                await agent.processor.save_tracker(tracker)
        if handover is not None:
            await asyncio.to_thread(self.store.human_answered, handover.id)
        self._sender.flush_soon(customer)

    async def hand_back(self, item: InboxItem) -> None:
        """Resume the conversation and have the bot say it is back."""
        agent = self._ready_agent()
        customer = item.customer_id
        handover = await asyncio.to_thread(self.store.get, int(item.payload["handover_id"]))
        if handover is None or not handover.active:
            return  # ended before (a retry after the end was recorded)
        async with agent.lock_store.lock(customer):
            if ENDED_INTENT in agent.domain.intents:
                await self._turns.run(
                    agent, customer, ENDED_INTENT, [], f"inbox:{item.id}", resume=True
                )
            else:
                logger.error(
                    "Intent %s is not in the model: %s is handed back silently (retrain)",
                    ENDED_INTENT,
                    customer,
                )
                tracker = await agent.processor.get_tracker(customer)
                if tracker.is_paused():
                    tracker.update(ConversationResumed())
                    await agent.processor.save_tracker(tracker)
            await asyncio.to_thread(self.store.end, handover.id, str(item.payload["by"]))
        logger.info("Handover %s: %s handed back (%s)", handover.id, customer, item.payload["by"])
        self._sender.flush_soon(customer)

    async def echo(self, item: InboxItem) -> None:
        """Record what the merchant sent from the WhatsApp Business app (never resent)."""
        agent = self._ready_agent()
        customer = item.customer_id
        payload = item.payload
        message_id = str(payload["id"])
        text = payload.get("text") or f"[{payload.get('type') or 'message'}]"
        async with agent.lock_store.lock(customer):
            handover = await asyncio.to_thread(
                self.store.write, start_in, customer, "whatsapp", ECHO_REASON
            )
            if handover is not None:
                logger.info("Handover %s: %s answered from the WhatsApp app", handover.id, customer)
            else:
                handover = await asyncio.to_thread(self.store.active, customer)
            tracker = await agent.processor.get_tracker(customer)
            changed = False
            if not tracker.is_paused():
                tracker.update(ConversationPaused())
                changed = True
            if not _has_person_message(tracker, message_id):
                tracker.update(_person_says(text, VIA_APP, message_id))
                changed = True
            if changed:
                await agent.processor.save_tracker(tracker)
        if handover is not None:
            await asyncio.to_thread(
                self.store.human_answered, handover.id, _moment(payload.get("timestamp"))
            )


def _person_says(text: str, via: str, source: str) -> BotUttered:
    return BotUttered(text, metadata={PERSON: {"by": "merchant", "via": via, "source": source}})


def _has_person_message(tracker: DialogueStateTracker, source: str) -> bool:
    return any(
        isinstance(event, BotUttered)
        and (event.metadata or {}).get(PERSON, {}).get("source") == source
        for event in tracker.events
    )


def _moment(timestamp: Any) -> datetime:
    """Meta's unix timestamp (a string of seconds), or now."""
    try:
        return datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def last_customer_message(tracker: DialogueStateTracker | None) -> datetime | None:
    """When the customer last wrote (not counting intents our own events injected)."""
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, UserUttered) and not (event.text or "").startswith(
            EXTERNAL_MESSAGE_PREFIX
        ):
            return datetime.fromtimestamp(event.timestamp, tz=timezone.utc)
    return None


# -- the quiet period --------------------------------------------------------------------


class QuietSweep:
    """Hands back handovers nobody wrote in for the quiet period, through the inbox
    (the same item as the page's "hand back", so each handover ends once, whichever
    Rasa server's sweep or merchant asks first)."""

    def __init__(
        self,
        store: HandoverStore,
        inbox: Inbox,
        agent: Callable[[], Agent | None],
        wake: Callable[[], None],
        quiet: timedelta | None = None,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self._agent = agent
        self._wake = wake
        self.quiet = quiet if quiet is not None else quiet_period()

    @property
    def every_seconds(self) -> float:
        return min(60.0, max(self.quiet.total_seconds() / 4, 1.0))

    async def run_once(self, now: datetime | None = None) -> list[int]:
        """Refresh when each waiting customer last wrote; hand back the quiet ones.
        Returns the handovers handed back."""
        now = now or utcnow()
        agent = self._agent()
        ending: list[NewItem] = []
        for handover in await asyncio.to_thread(self.store.waiting):
            if agent is not None:
                tracker = await agent.tracker_store.retrieve(handover.customer_id)
                wrote = last_customer_message(tracker)
                if wrote is not None and wrote > handover.started_at:
                    await asyncio.to_thread(self.store.customer_wrote, handover.id, wrote)
                    handover = await asyncio.to_thread(self.store.get, handover.id) or handover
            if quiet_since(handover, now, self.quiet):
                ending.append(end_item(handover, ENDED_BY_QUIET))
        if ending:
            await self.inbox.add(ending)
            self._wake()
        return [item.payload["handover_id"] for item in ending]

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_seconds)
            try:
                await self.run_once()
            except Exception:
                logger.exception("Handover quiet-period sweep failed; retried in a while")

