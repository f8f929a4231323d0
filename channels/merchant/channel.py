"""Rasa input channel serving the merchant's inbox page and its JSON API.

Routes, under /webhooks/merchant/ (the page and the API need MERCHANT_INBOX_TOKEN; the
API takes it as `Authorization: Bearer <token>`; unset, everything answers 503):

- GET  /                                   the page (plain HTML and JS, see static/)
- GET  /static/inbox.js, /static/inbox.css
- GET  /api/handovers                      customers waiting for a person, oldest first
- GET  /api/conversations/<id>             one customer's handover and transcript
- POST /api/conversations/<id>/reply       {"text", "reply_id"}: 202, sent through the outbox
- POST /api/conversations/<id>/hand-back   202: the bot takes over again

A reply and a hand back are written to the durable inbox before the 202 (keyed by the
customer, so they stay in order with the customer's own messages). The Rasa servers'
inbox consumers apply them (`handover.conversation`), together with the WhatsApp
Business app's echoes, and sweep quiet handovers back to the bot. The same channel in
the front door serves the page and writes the inbox, but applies nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.constants import EXTERNAL_MESSAGE_PREFIX
from rasa.shared.core.events import BotUttered, ConversationPaused, ConversationResumed, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from channels.razorpay import token_is_valid
from durable.service import Durable, for_app
from handover.conversation import (
    ECHO_KIND,
    END_KIND,
    MAX_REPLY_CHARS,
    PERSON,
    REPLY_KIND,
    HandoverConversations,
    QuietSweep,
    end_item,
    reply_item,
)
from handover.store import ENDED_BY_MERCHANT, HandoverStore
from orders.store import OrderStore, get_store

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"inbox.js": "text/javascript", "inbox.css": "text/css", "index.html": "text/html"}
MAX_BODY_BYTES = 32 * 1024
TRANSCRIPT_EVENTS = 300  # the latest messages shown of a long conversation
NO_TOKEN = (
    "The merchant inbox is closed: MERCHANT_INBOX_TOKEN is not set. Set it to a long "
    "random value (openssl rand -hex 16) and restart."
)
# The page builds every element from text (never markup); the policy keeps it so.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class MerchantInboxInput(InputChannel):
    def __init__(self, token: str | None, store: OrderStore | None = None) -> None:
        # repr-free: the token is never logged.
        self._token = token or None
        self.store = store
        self.durable: Durable | None = None
        self.handovers: HandoverStore | None = None
        self.conversations: HandoverConversations | None = None
        self.sweep: QuietSweep | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self._tracker_store: TrackerStore | None = None
        self._files = {name: (STATIC / name).read_bytes() for name in STATIC_TYPES}
        if self._token is None:
            logger.warning(NO_TOKEN)

    @classmethod
    def name(cls) -> str:
        return "merchant"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MerchantInboxInput:
        if credentials:
            logger.warning(
                "Merchant inbox settings in credentials.yml are ignored; they are read from "
                "MERCHANT_* and HANDOVER_* environment variables"
            )
        return cls(os.environ.get("MERCHANT_INBOX_TOKEN"))

    def blueprint(self, on_new_message: Any) -> Blueprint:
        merchant = Blueprint("merchant_inbox", __name__)

        @merchant.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if self._token is None:
                return response.text(NO_TOKEN, status=503, headers=PAGE_HEADERS)
            return self._file("index.html")

        @merchant.route("/static/<name:str>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            if name not in STATIC_TYPES or name == "index.html":
                return response.text("Not found", status=404)
            return self._file(name)

        @merchant.route("/api/handovers", methods=["GET"])
        async def waiting(request: Request) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            assert self.handovers is not None
            try:
                found = await asyncio.to_thread(self.handovers.waiting)
            except SQLAlchemyError:
                logger.exception("Merchant inbox: the handovers could not be read")
                return _error(503, "the database is not reachable; retry later")
            return response.json({"handovers": [h.as_dict() for h in found]})

        @merchant.route("/api/conversations/<customer_id:str>", methods=["GET"])
        async def conversation(request: Request, customer_id: str) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            assert self.handovers is not None
            recent = await asyncio.to_thread(self.handovers.recent, customer_id, 1)
            tracker = await self._retrieve(request.app, customer_id)
            if tracker is None and not recent:
                return _error(404, "no conversation with this customer")
            return response.json(
                {
                    "customer_id": customer_id,
                    "handover": recent[0].as_dict() if recent else None,
                    "messages": transcript(tracker.events if tracker is not None else []),
                }
            )

        @merchant.route("/api/conversations/<customer_id:str>/reply", methods=["POST"])
        async def reply(request: Request, customer_id: str) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            body = request.json if _is_json_object(request) else None
            text = str((body or {}).get("text") or "").strip()
            if not text or len(text) > MAX_REPLY_CHARS:
                return _error(400, f"text: 1 to {MAX_REPLY_CHARS} characters")
            try:
                item = reply_item(customer_id, text, str((body or {}).get("reply_id") or ""))
            except ValueError as exc:
                return _error(400, str(exc))
            assert self.handovers is not None
            if await asyncio.to_thread(self.handovers.active, customer_id) is None:
                return _error(409, "this customer is not handed over (the bot answers them)")
            return await self._acknowledge(item, "reply")

        @merchant.route("/api/conversations/<customer_id:str>/hand-back", methods=["POST"])
        async def hand_back(request: Request, customer_id: str) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            assert self.handovers is not None
            handover = await asyncio.to_thread(self.handovers.active, customer_id)
            if handover is None:
                return _error(409, "this customer is not handed over (the bot answers them)")
            return await self._acknowledge(end_item(handover, ENDED_BY_MERCHANT), "hand back")

        @merchant.listener("before_server_start")
        async def prepare(app: Sanic, _loop: Any) -> None:
            store = self.store or get_store()
            self.durable = durable = for_app(app, store)
            self.handovers = HandoverStore(store.engine)
            if durable.front_door:
                return  # the Rasa servers apply what the page asks for
            agent = lambda: getattr(app.ctx, "agent", None)  # noqa: E731
            self.conversations = conversations = HandoverConversations(
                agent, self.handovers, durable.outbox, durable.sender
            )
            durable.consumer.handle(REPLY_KIND, conversations.reply)
            durable.consumer.handle(END_KIND, conversations.hand_back)
            durable.consumer.handle(ECHO_KIND, conversations.echo)
            self.sweep = QuietSweep(self.handovers, durable.inbox, agent, durable.wake)

        @merchant.listener("after_server_start")
        async def start(*_: Any) -> None:
            assert self.durable is not None
            self.durable.start()
            if self.sweep is not None:
                self._sweeping = asyncio.create_task(self.sweep.run_forever())
                logger.info(
                    "Merchant inbox %s; quiet handovers handed back after %s",
                    "open" if self._token else "CLOSED (no MERCHANT_INBOX_TOKEN)",
                    self.sweep.quiet,
                )

        @merchant.listener("before_server_stop")
        async def stop(*_: Any) -> None:
            if self._sweeping is not None:
                self._sweeping.cancel()
                await asyncio.gather(self._sweeping, return_exceptions=True)
            if self.durable is not None:
                await self.durable.stop()

        return merchant

    def _file(self, name: str) -> HTTPResponse:
        return response.raw(
            self._files[name],
            content_type=f"{STATIC_TYPES[name]}; charset=utf-8",
            headers=PAGE_HEADERS,
        )

    def _refusal(self, request: Request) -> HTTPResponse | None:
        if self._token is None:
            return _error(503, NO_TOKEN)
        if not token_is_valid(request.headers.get("Authorization"), self._token):
            return _error(401, "missing or wrong token")
        if len(request.body or b"") > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        return None

    async def _acknowledge(self, item: Any, what: str) -> HTTPResponse:
        assert self.durable is not None
        try:
            await self.durable.inbox.prepare()
            await self.durable.inbox.add([item])
        except SQLAlchemyError:
            logger.exception("Merchant inbox: the %s could not be written", what)
            return _error(503, "the database is not reachable; retry later")
        self.durable.wake()
        return response.json({"status": "accepted"}, status=202)

    async def _retrieve(self, app: Sanic, customer_id: str) -> Any:
        store = self._trackers(app)
        if getattr(app.ctx, "agent", None) is not None:
            return await store.retrieve(customer_id)  # as Rasa reads it for every turn
        # The front door's loop answers webhooks, and Rasa's SQL store reads without
        # awaiting: in a worker thread, on a loop of its own.
        return await asyncio.to_thread(asyncio.run, store.retrieve(customer_id))

    def _trackers(self, app: Sanic) -> TrackerStore:
        agent = getattr(app.ctx, "agent", None)
        if agent is not None and agent.tracker_store is not None:
            return agent.tracker_store
        if self._tracker_store is None:
            # The front door has no agent: Rasa's store, built as endpoints.yml builds it.
            from server.stores import create_tracker_store

            self._tracker_store = create_tracker_store()
        return self._tracker_store


def transcript(events: Any) -> list[dict[str, Any]]:
    """What the customer, the bot and a person said, and when the bot paused or resumed."""
    lines: list[dict[str, Any]] = []
    for event in events:
        at = datetime.fromtimestamp(event.timestamp, tz=timezone.utc).isoformat()
        if isinstance(event, UserUttered):
            if (event.text or "").startswith(EXTERNAL_MESSAGE_PREFIX):
                continue
            lines.append({"from": "customer", "text": event.text or "", "at": at})
        elif isinstance(event, BotUttered):
            person = (event.metadata or {}).get(PERSON)
            data = event.data or {}
            buttons = [str(b.get("title", "")) for b in data.get("buttons") or []]
            lines.append(
                {
                    "from": "person" if person else "bot",
                    "text": event.text or "",
                    "buttons": buttons,
                    "via": person.get("via") if person else None,
                    "at": at,
                }
            )
        elif isinstance(event, ConversationPaused):
            lines.append({"from": "system", "event": "paused", "at": at})
        elif isinstance(event, ConversationResumed):
            lines.append({"from": "system", "event": "resumed", "at": at})
    return lines[-TRANSCRIPT_EVENTS:]


def _is_json_object(request: Request) -> bool:
    try:
        return isinstance(request.json, dict)
    except Exception:  # sanic raises on a malformed body
        return False


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)
