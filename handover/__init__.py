"""Human handover: a customer waits for a person, the merchant is told, the bot is quiet.

`begin` is called by the action server (`actions/handover.py`), which then returns
Rasa's `ConversationPaused`. The rest runs in the Rasa server: `handover.conversation`
applies a person's replies, hand-backs and coexistence echoes to the tracker, and
sweeps quiet handovers back to the bot; `channels.merchant` serves the inbox page.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from sqlalchemy.engine import Engine

from durable.tables import Tables
from handover import notice
from handover.store import Handover, HandoverStore, start_in
from orders.store import get_store

logger = logging.getLogger(__name__)

_warned_no_number = False


async def begin(customer_id: str, channel: str, reason: str, domain: dict[str, Any]) -> bool:
    """Record that `customer_id` waits for a person (reason: one of
    handover.store.REASONS) and, when this starts a new handover, queue the merchant's
    notice in the durable outbox to MERCHANT_WHATSAPP_NUMBER on `channel`
    (its source key is the handover's id, so a retried turn queues it once). Returns
    False when one was already active. Blocking work runs in a worker thread."""
    return await asyncio.to_thread(
        _begin, _store(get_store().engine), customer_id, channel, reason, domain
    )


@functools.cache
def _store(engine: Engine) -> HandoverStore:
    # One per database: its tables (and the outbox's) are checked once, not every turn.
    Tables(engine).ensure()
    return HandoverStore(engine)


def _begin(
    store: HandoverStore, customer_id: str, channel: str, reason: str, domain: dict[str, Any]
) -> bool:
    global _warned_no_number
    recipient = notice.merchant_number()
    if recipient is None and not _warned_no_number:
        _warned_no_number = True
        logger.warning(
            "MERCHANT_WHATSAPP_NUMBER is not set: handovers are recorded (see the inbox "
            "page) but the merchant is not messaged about them"
        )
    values = {
        "customer": customer_id,
        "reason": reason.replace("_", " "),
        "inbox_url": notice.inbox_url(),
    }
    fallback = notice.fallback_template(values)
    text = None
    if recipient is not None:
        text = notice.words(domain, notice.merchant_language(), values)
        if text is None:
            logger.error(
                "Response %s is not in the domain: the merchant is not told of handovers "
                "(add it, then retrain)",
                notice.RESPONSE,
            )
    def record(conn: Any) -> Handover | None:
        started = start_in(conn, customer_id, channel or "", reason)
        # No channel (rasa shell, REST): nothing could push the notice; the page lists it.
        if started is not None and recipient is not None and text is not None and channel:
            source = f"handover:{started.id}:notice"
            notice.queue_in(conn, recipient, channel, source, text, fallback)
        return started

    started = store.write(record)
    if started is None:
        return False
    logger.info("Handover %s: %s waits for a person (%s)", started.id, customer_id, reason)
    return True
