"""Rasa channel for the WhatsApp Cloud API.

Register in credentials.yml as `channels.whatsapp.WhatsAppInput:` (no settings there:
they come from the environment, see `WhatsAppSettings`). Routes, under
/webhooks/whatsapp/:

- GET  /         health
- GET  /webhook  Meta's verification handshake
- POST /webhook  events, signed with X-Hub-Signature-256

- POST /inbox/wake  a front door wrote new messages (`durable.service`)

An event POST is verified and parsed as a whole, its messages are written to the
durable inbox (which is also the de-duplication record), and it is answered 200: it
never waits for the model. The process's inbox consumer then feeds the messages to
Rasa in order per customer, and the replies go out through the outbox. Delivery
statuses are logged; a message refused late because its recipient's 24-hour window was
closed is written to the inbox too, to be replaced by its template
(`channels.whatsapp.window_closed`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from channels.delivery import DeliveryFailed
from channels.whatsapp import window_closed
from channels.whatsapp.client import WINDOW_CLOSED_CODE, GraphApiError, WhatsAppClient
from channels.whatsapp.inbound import to_rasa_input
from channels.whatsapp.models import (
    InboundMessage,
    MessageEcho,
    WebhookEvent,
    WebhookParseError,
)
from channels.whatsapp.render import (
    Rendered,
    render_buttons,
    render_custom,
    render_image,
    render_response,
    render_text,
)
from channels.whatsapp.store import ChannelState
from durable.inbox import InboxItem, NewItem
from durable.service import Durable, for_app
from handover.conversation import ECHO_KIND  # consumed by the merchant inbox channel
from orders.store import OrderStore, get_store

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_BODY_BYTES = 1024 * 1024  # Meta's events are a few KB; anything near this is not one
INBOX_KIND = "whatsapp"
# At shutdown, read receipts still on their way get this long before the client closes.
RECEIPT_GRACE_SECONDS = 2.0
# A turn's replies go out at its end, unless it is still running this long after the
# first (`QueuedOutput`): under a second's wait is not worth a transaction per reply.
EARLY_REPLIES_AFTER_SECONDS = 2.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass(frozen=True)
class WhatsAppSettings:
    # repr=False: a settings object in a log line or traceback must not show secrets.
    app_secret: str | None = field(repr=False)
    verify_token: str | None = field(repr=False)
    # Local experiments only: accept events without a signature when no secret is set.
    allow_unsigned: bool = False

    @classmethod
    def from_env(cls) -> WhatsAppSettings:
        return cls(
            app_secret=os.environ.get("WHATSAPP_APP_SECRET") or None,
            verify_token=os.environ.get("WHATSAPP_VERIFY_TOKEN") or None,
            allow_unsigned=os.environ.get("WHATSAPP_ALLOW_UNSIGNED", "").lower()
            in ("1", "true", "yes"),
        )

    @property
    def signature_check(self) -> str:
        if self.app_secret:
            return "on"
        return "off (WHATSAPP_ALLOW_UNSIGNED)" if self.allow_unsigned else "refusing events"


def signature_is_valid(body: bytes, header: str | None, secret: str) -> bool:
    """X-Hub-Signature-256 is `sha256=` + hex HMAC-SHA256 of the raw body."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "ignore"))


class WhatsAppOutput(OutputChannel):
    """Sends Rasa responses through the Graph API.

    In a live turn (`send_response`) a failed send is logged by the client (code,
    fbtrace_id) and not raised: an exception there would abort the turn and leave the
    tracker behind the conversation. A sender that records what went out calls
    `deliver`, which raises DeliveryFailed and returns the wamids Meta gave.
    """

    def __init__(
        self, client: WhatsAppClient, state: ChannelState, reporting: bool = False, skip: int = 0
    ) -> None:
        self.client = client
        self.state = state
        self._reporting = reporting
        self._skip = skip  # parts of the response that went out before (a retry)
        self._parts = 0
        self._wamids: list[str] = []

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    async def deliver(
        self, recipient_id: str, message: dict[str, Any], skip: int = 0
    ) -> list[str]:
        # A fresh output per response: its wamids are never mixed with another's.
        response = WhatsAppOutput(self.client, self.state, reporting=True, skip=skip)
        await response.send_response(recipient_id, dict(message))
        return response._wamids

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        shaped = render_response(message)  # a neutral `pay` or `list` payload
        if shaped is not None:
            await self._deliver(recipient_id, shaped)
            return
        has_buttons = message.get("buttons") or message.get("quick_replies")
        if message.get("image") and message.get("text") and not has_buttons:
            # One image with its text as caption, rather than two messages.
            await self._deliver(recipient_id, render_image(message["image"], message["text"]))
            message = {k: v for k, v in message.items() if k not in ("image", "text")}
        await super().send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._deliver(recipient_id, render_text(text))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._deliver(recipient_id, render_buttons(text, buttons))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._deliver(recipient_id, render_image(image))

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._deliver(recipient_id, render_custom(json_message))

    async def _deliver(self, recipient_id: str, rendered: Rendered) -> None:
        for token, payload in rendered.tokens.items():
            await self.state.remember_payload(token, payload)
        if rendered.options is not None:
            await self.state.remember_options(recipient_id, rendered.options)
        for message in rendered.messages:
            self._parts += 1
            if self._parts <= self._skip:
                continue
            try:
                wamid = await self.client.send(recipient_id, message)
            except GraphApiError as exc:
                if self._reporting:
                    raise DeliveryFailed(
                        f"WhatsApp message to {recipient_id}: {exc}",
                        permanent=not exc.transient,
                        message_ids=self._wamids,
                        window_closed=exc.code == WINDOW_CLOSED_CODE,
                    ) from exc
                return  # the rest of this response would make no sense without it
            # Meta always returns an id; a part without one still counts as sent.
            self._wamids.append(wamid or "")


class QueuedOutput(CollectingOutputChannel):
    """The output of a turn fed from the inbox: its responses, as Rasa produced them,
    kept until the turn is saved; then they go to the outbox in one transaction with
    the item's completion (`Durable.finish_turn`), and `durable.sender` sends them.

    A turn still running EARLY_REPLIES_AFTER_SECONDS after its first response (an action
    waiting for Razorpay, say) has `record_early` record what it said so far, and each
    later response as it comes: the customer reads them while it runs. The finish
    records them again under the same keys, so each is kept (and sent) once."""

    def __init__(self, record_early: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> None:
        super().__init__()
        self.replies: list[dict[str, Any]] = []
        self._record_early = record_early
        self._timer: asyncio.TimerHandle | None = None
        self._slow = False
        self._in_order = asyncio.Lock()
        self._recording: set[asyncio.Task[None]] = set()

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self._keep(dict(message))

    async def _persist_message(self, message: dict[str, Any]) -> None:
        # The send_text_message / send_text_with_buttons / ... family ends here.
        message.pop("recipient_id", None)
        self._keep({k: v for k, v in message.items() if v is not None})

    def stop(self) -> None:
        """The turn is over: nothing more is recorded early."""
        if self._timer is not None:
            self._timer.cancel()
        self._slow = False

    def _keep(self, message: dict[str, Any]) -> None:
        self.replies.append(message)
        if self._slow:
            self._record_soon()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(EARLY_REPLIES_AFTER_SECONDS, self._turn_is_slow)

    def _turn_is_slow(self) -> None:
        self._slow = True
        self._record_soon()

    def _record_soon(self) -> None:
        task = asyncio.create_task(self._record(list(self.replies)))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _record(self, replies: list[dict[str, Any]]) -> None:
        async with self._in_order:
            try:
                await self._record_early(replies)
            except Exception:
                # Not lost: the turn's finish records them (or its retry does).
                logger.exception("WhatsApp: a slow turn's first replies could not be recorded")


class WhatsAppInput(InputChannel):
    def __init__(
        self,
        settings: WhatsAppSettings,
        client: WhatsAppClient,
        state: ChannelState,
        max_body_bytes: int = MAX_BODY_BYTES,
        store: OrderStore | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.state = state
        self.max_body_bytes = max_body_bytes
        # The inbox and outbox are tables in the order store's database.
        self.store = store
        self._receipts: set[asyncio.Task[None]] = set()
        self._log_configuration()

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        if credentials:
            logger.warning(
                "WhatsApp settings in credentials.yml are ignored; they are read from "
                "WHATSAPP_* environment variables"
            )
        return cls(WhatsAppSettings.from_env(), WhatsAppClient.from_env(), ChannelState.from_env())

    def get_output_channel(self) -> WhatsAppOutput:
        return WhatsAppOutput(self.client, self.state)

    def _log_configuration(self) -> None:
        if not self.settings.app_secret and self.settings.allow_unsigned:
            logger.warning(
                "WHATSAPP_ALLOW_UNSIGNED is set: WhatsApp events are accepted WITHOUT a "
                "signature check. Anyone can impersonate customers. Local use only."
            )
        elif not self.settings.app_secret:
            logger.error(
                "WHATSAPP_APP_SECRET is not set: POST /webhooks/whatsapp/webhook will "
                "refuse every event (503). Set it to your Meta app's secret (App "
                "Dashboard > App settings > Basic > App secret)."
            )
        if not self.settings.verify_token:
            logger.warning(
                "WHATSAPP_VERIFY_TOKEN is not set: Meta's webhook verification will fail."
            )
        if not self.client.configured:
            logger.warning(
                "WHATSAPP_ACCESS_TOKEN / WHATSAPP_PHONE_NUMBER_ID not set: replies cannot "
                "be sent."
            )
        logger.info("WhatsApp reply tokens and options: %s", self.state.backend)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        whatsapp = Blueprint("whatsapp_webhook", __name__)
        durable: Durable | None = None

        @whatsapp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            report: dict[str, Any] = {
                "status": "ok",
                "signature_check": self.settings.signature_check,
                "sending_configured": self.client.configured,
                "reply_state": self.state.backend,
            }
            if durable is not None:
                try:
                    report |= await durable.health()
                except SQLAlchemyError:
                    logger.exception("WhatsApp health: the inbox could not be read")
                    return _error(503, "the inbox's database is not reachable")
            return response.json(report)

        @whatsapp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            token = request.args.get("hub.verify_token") or ""
            expected = self.settings.verify_token
            if (
                request.args.get("hub.mode") != "subscribe"
                or not expected
                or not hmac.compare_digest(token.encode(), expected.encode())
            ):
                return response.text("Forbidden", status=403)
            challenge = request.args.get("hub.challenge")
            if not challenge:
                return response.text("hub.challenge missing", status=400)
            return response.text(challenge, content_type="text/plain")

        # stream=True: the body is read here, so an oversized one is refused early
        # instead of being buffered up to Sanic's 100 MB default.
        @whatsapp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            if not (self.settings.app_secret or self.settings.allow_unsigned):
                return _error(503, "WHATSAPP_APP_SECRET is not set: events cannot be verified")
            body = await _read_body(request, self.max_body_bytes)
            if body is None:
                return _error(413, f"body larger than {self.max_body_bytes} bytes")
            if self.settings.app_secret and not signature_is_valid(
                body, request.headers.get(SIGNATURE_HEADER), self.settings.app_secret
            ):
                logger.warning("WhatsApp webhook: missing or invalid %s", SIGNATURE_HEADER)
                return _error(403, f"missing or invalid {SIGNATURE_HEADER}")
            try:
                event = WebhookEvent.parse(json.loads(body))
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                reason = str(exc) if isinstance(exc, WebhookParseError) else "invalid JSON"
                logger.warning("WhatsApp webhook refused: %s", reason)
                return _error(400, reason)

            inbound = event.messages()
            # The merchant answering from the WhatsApp Business app (coexistence):
            # recorded in the conversation by the handover consumer, never sent again.
            echoes = event.echoes()
            refused = [status for status in event.statuses() if status.window_closed]
            if inbound or echoes or refused:
                assert durable is not None
                items = [_inbox_item(item) for item in inbound] + [_echo_item(e) for e in echoes]
                items += [window_closed.refusal_item(status) for status in refused]
                try:
                    # Durable before the 200: the inbox row is also the "seen" record.
                    await durable.inbox.add(items)
                except SQLAlchemyError:
                    logger.exception("WhatsApp webhook: the inbox could not be written")
                    return _error(503, "temporarily unable to accept messages; retry later")
                durable.wake()
            _log_reports(event)
            answer: dict[str, Any] = {"status": "accepted", "messages": len(inbound)}
            if echoes:
                answer["echoes"] = len(echoes)
            return response.json(answer)

        @whatsapp.route("/inbox/wake", methods=["POST"])
        async def wake(request: Request) -> HTTPResponse:
            # A front door wrote new items. Waking only makes the consumer look sooner.
            if durable is not None:
                durable.consumer.wake()
            return response.empty()

        @whatsapp.listener("before_server_start")
        async def prepare(app: Sanic, _loop: Any) -> None:
            nonlocal durable
            durable = for_app(app, self.store or get_store())
            if durable.front_door:
                return  # no model here: the Rasa servers take the messages
            outbox, sender = durable.outbox, durable.sender
            consume = lambda item: self._consume(item, on_new_message, app)  # noqa: E731
            durable.consumer.handle(INBOX_KIND, consume)
            durable.consumer.handle(
                window_closed.KIND,
                lambda item: window_closed.consume(item, outbox, sender),
                needs_ready=False,
            )

        @whatsapp.listener("after_server_start")
        async def start(*_: Any) -> None:
            assert durable is not None
            durable.start()

        @whatsapp.listener("before_server_stop")
        async def finish(*_: Any) -> None:
            if durable is not None:
                await durable.stop()
            if self._receipts:
                await asyncio.wait(set(self._receipts), timeout=RECEIPT_GRACE_SECONDS)
            await self.client.close()
            await self.state.close()

        return whatsapp

    async def _consume(self, item: InboxItem, on_new_message: OnNewMessage, app: Any) -> bool:
        durable: Durable = app.ctx.durable
        inbound = InboundMessage.from_stored(item.payload)
        message = inbound.message
        if item.retried:
            answered = await _replies_in_conversation(app, message.sender, message.id)
            if answered is not None:
                # A crash after Rasa saved the turn: record what it said then.
                logger.info("WhatsApp message %s was answered before a restart", message.id)
                await durable.finish_turn(item, self.name(), answered)
                return True
        rasa_input = await to_rasa_input(inbound, self.state)
        if rasa_input is None:
            logger.debug("WhatsApp %s message %s ignored", message.type, message.id)
            return False
        self._send_read_receipt(message.id)
        output = QueuedOutput(lambda replies: durable.record_early(item, self.name(), replies))
        try:
            await on_new_message(
                UserMessage(
                    rasa_input.text,
                    output,
                    sender_id=message.sender,
                    input_channel=self.name(),
                    message_id=message.id,
                    metadata=rasa_input.metadata,
                )
            )
        except Exception:
            logger.exception("WhatsApp message from %s could not be handled", message.sender)
            raise
        finally:
            output.stop()
        if rasa_input.options_offered:
            # Forgotten once the turn is saved (a turn that crashed reads them again),
            # and before its own replies may offer new ones.
            await self.state.forget_options(message.sender, rasa_input.options_offered)
        await durable.finish_turn(item, self.name(), output.replies)
        return True

    def _send_read_receipt(self, message_id: str) -> None:
        # Blue ticks and "typing..." while the turn runs, sent beside it: a round trip to
        # Meta is not worth delaying the answer for.
        task = asyncio.create_task(self._mark_read(message_id))
        self._receipts.add(task)
        task.add_done_callback(self._receipts.discard)

    async def _mark_read(self, message_id: str) -> None:
        try:
            await self.client.mark_as_read(message_id)
        except GraphApiError:
            pass  # logged by the client; the customer still gets an answer


def _inbox_item(inbound: InboundMessage) -> NewItem:
    message = inbound.message
    return NewItem(INBOX_KIND, message.sender, f"whatsapp:{message.id}", inbound.to_stored())


def _echo_item(echo: MessageEcho) -> NewItem:
    # Keyed by the customer: in order with their messages (handover.conversation).
    return NewItem(ECHO_KIND, echo.recipient, f"whatsapp-echo:{echo.id}", echo.to_stored())


async def _replies_in_conversation(
    app: Any, sender_id: str, message_id: str
) -> list[dict[str, Any]] | None:
    """What the bot said in answer to the message, from the saved conversation; None
    when the message is not in it (its turn was not saved: it is run again)."""
    tracker_store = getattr(getattr(app.ctx, "agent", None), "tracker_store", None)
    if tracker_store is None:
        return None
    tracker = await tracker_store.retrieve(sender_id)
    if tracker is None:
        return None
    replies: list[dict[str, Any]] | None = None
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break  # the next message's turn
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            # What Rasa handed the output channel during the turn (`BotUttered.message`).
            replies.append(event.message())
    return replies


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body (what the signature covers), or None when over `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _log_reports(event: WebhookEvent) -> None:
    """Delivery statuses and errors are for the log; they are never answered."""
    for status in event.statuses():
        if status.status == "failed":
            for error in status.errors or [None]:
                logger.error(
                    "WhatsApp message %s to %s failed: code=%s title=%s details=%s",
                    status.message_id, status.recipient_id, error and error.code,
                    error and error.title, error and error.details,
                )
        else:
            logger.debug("WhatsApp message %s %s", status.message_id, status.status)
    for error in event.errors():
        logger.error("WhatsApp reported an error: code=%s title=%s details=%s",
                     error.code, error.title, error.details)


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)
