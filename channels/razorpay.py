"""Rasa input channel for Razorpay's payment webhooks.

Register in credentials.yml as `channels.razorpay.RazorpayWebhookInput:` (settings come
from the environment). Routes, under /webhooks/razorpay/:

- GET  /           health
- POST /webhook    Razorpay events, signed with X-Razorpay-Signature
- POST /reconcile  a reconciler pass, asked for by `make reconcile`
                   (`Authorization: Bearer $RECONCILE_TOKEN`; closed without it)

A webhook is verified, parsed and written to the durable inbox (its event id is the
de-duplication key), and answered: the answer waits for one insert, never for the
order's transaction or the model (Razorpay counts answers after 5 s as failures).
The event is then applied once (`orders.payment_events`), in one transaction with the
customer's notice in the inbox: right away by a Rasa server that took the webhook
itself, or by the Rasa servers' inbox consumers when a front door took it. A Rasa
server's consumer hands the notice to `channels.notifier`. Where a model runs (not in
the front door), the blueprint also runs the reconciler every
RECONCILE_INTERVAL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import string
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from razorpay.errors import SignatureVerificationError
from razorpay.utility.utility import Utility
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from channels.notifier import ConversationNotifier
from durable.inbox import InboxItem, NewItem
from durable.notices import NOTICE_KIND, payment_notice
from durable.service import Durable, for_app
from gateways.razorpay import PaymentGatewayError, RazorpayGateway
from gateways.shopify import ShopifyClient, ShopifyError
from orders.payment_events import Applied, EventParseError, Outcome, PaymentEvent, apply_event
from orders.reconcile import PassSkipped, Reconciler, interval_seconds
from orders.shopify_sync import sync_paid_order
from orders.store import OrderStore, get_store
from server.cluster_lock import for_engine

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "X-Razorpay-Event-Id"
MAX_BODY_BYTES = 256 * 1024  # Razorpay's events are a few KB
SHUTDOWN_GRACE_SECONDS = 10.0
EVENT_KIND = "razorpay_event"  # a verified event, to apply to its order
# Events a process applies itself at once; more wait in the inbox for its consumer.
MAX_APPLYING = 64
NO_SECRET = (
    "RAZORPAY_WEBHOOK_SECRET is not set: Razorpay webhooks cannot be verified and are "
    "refused (503), so payments are NOT confirmed. Set it to the secret entered in "
    "Razorpay Dashboard > Settings > Webhooks."
)

_verifier = Utility()


def signature_is_valid(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """X-Razorpay-Signature is the hex HMAC-SHA256 of the raw body with the webhook secret.

    The SDK's check wants str arguments and lowercase hex: a missing header, bytes or
    uppercase hex would raise or fail in it, so they are dealt with here first.
    """
    signature = (header or "").strip().lower()
    if len(signature) != 64 or not all(c in string.hexdigits for c in signature):
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    for secret in secrets:
        try:
            if _verifier.verify_webhook_signature(text, signature, secret):
                return True
        except SignatureVerificationError:
            continue
    return False


class RazorpayWebhookInput(InputChannel):
    def __init__(
        self,
        webhook_secrets: list[str],
        store: OrderStore | None = None,
        gateway: RazorpayGateway | None = None,
        shopify: ShopifyClient | None = None,
        reconcile_interval: float | None = None,
        reconcile_token: str | None = None,
    ) -> None:
        # The current secret first, then the previous one during a rotation: retries of
        # older events still carry the old signature.
        self.secrets = [secret for secret in webhook_secrets if secret]
        self.store = store or get_store()
        self.gateway = gateway
        self.shopify = shopify
        self.reconcile_interval = reconcile_interval or interval_seconds()
        self.reconcile_token = reconcile_token
        # Made when the server starts (they need its agent and channels).
        self.durable: Durable | None = None
        self.notifier: ConversationNotifier | None = None
        self.reconciler: Reconciler | None = None
        self._reconciling: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._applying: set[asyncio.Task] = set()
        if not self.secrets:
            logger.error(NO_SECRET)
        if gateway is None:
            logger.warning(
                "RAZORPAY_KEY_ID / RAZORPAY_KEY_SECRET not set: the reconciler "
                "cannot fetch payment links (missed webhooks stay missed)"
            )

    @classmethod
    def name(cls) -> str:
        return "razorpay"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RazorpayWebhookInput:
        if credentials:
            logger.warning(
                "Razorpay settings in credentials.yml are ignored; they are read "
                "from RAZORPAY_* environment variables"
            )
        try:
            gateway: RazorpayGateway | None = RazorpayGateway.from_env()
        except PaymentGatewayError:
            gateway = None
        return cls(
            [
                os.environ.get("RAZORPAY_WEBHOOK_SECRET", ""),
                os.environ.get("RAZORPAY_WEBHOOK_SECRET_PREVIOUS", ""),
            ],
            gateway=gateway,
            shopify=ShopifyClient.from_env(),
            reconcile_token=os.environ.get("RECONCILE_TOKEN") or None,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        razorpay = Blueprint("razorpay_webhook", __name__)

        @razorpay.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json(
                {
                    "status": "ok",
                    "signature_check": "on" if self.secrets else "refusing webhooks",
                    "link_fetching": self.gateway is not None,
                    "shopify_sync": self.shopify is not None,
                    "reconciler_running": self._reconciling is not None
                    and not self._reconciling.done(),
                }
            )

        @razorpay.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            try:
                body = json.loads(request.body)
                event = PaymentEvent.from_body(_event_id(request), body)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                reason = str(exc) if isinstance(exc, EventParseError) else "invalid JSON"
                logger.warning("Razorpay webhook refused: %s", reason)
                return _error(400, reason)
            durable = self.durable
            assert durable is not None
            item = _event_item(event, request.body)
            # A Rasa server applies the event itself right after the answer, unless it
            # has too many in hand already; a front door leaves it to the Rasa servers'
            # consumers, as it does messages.
            lease = None
            if not durable.front_door and len(self._applying) < MAX_APPLYING:
                lease = durable.inbox.lease_for(durable.consumer.name)
            try:
                await durable.inbox.prepare()
                new = await durable.inbox.add([item], held_by=lease)
            except SQLAlchemyError:
                # Ours and transient: a 5xx makes Razorpay deliver it again later.
                logger.exception("Razorpay event %s not recorded (database)", event.event_id)
                return _error(503, "temporarily unable to record the event; retry later")
            if not new:
                return response.json({"status": "duplicate"})
            if lease is None:
                durable.wake()
            else:
                self._apply_soon(event, item.dedupe_key, lease)
            return response.json({"status": "accepted"})

        @razorpay.route("/reconcile", methods=["POST"])
        async def reconcile(request: Request) -> HTTPResponse:
            if not self.reconcile_token:
                return _error(503, "RECONCILE_TOKEN is not set: reconcile requests are refused")
            if not token_is_valid(request.headers.get("Authorization"), self.reconcile_token):
                logger.warning("Reconcile request without a valid token from %s", request.ip)
                return _error(403, "missing or invalid bearer token")
            if self.reconciler is None:
                return _error(503, "this process does not reconcile; ask a Rasa server")
            try:
                report = await self.reconciler.run_once()
            except PassSkipped as exc:  # another server's pass went on for too long
                return _error(503, f"{exc}; retry later")
            return response.json(report.as_dict())

        @razorpay.listener("before_server_start")
        async def prepare(app: Sanic, _loop: Any) -> None:
            self.durable = durable = for_app(app, self.store)
            if durable.front_door:
                return  # the Rasa servers apply events, tell customers and reconcile
            # Events need the order store, not the model: applied while it loads too.
            durable.consumer.handle(EVENT_KIND, self._consume_event, needs_ready=False)
            self.notifier = ConversationNotifier(
                lambda: getattr(app.ctx, "agent", None),
                durable.outbox,
                durable.sender,
                self.store,
            )
            durable.consumer.handle(NOTICE_KIND, self._consume_notice)
            # One pass at a time across every Rasa server and worker (server.cluster_lock).
            self.reconciler = Reconciler(
                self.store,
                self.gateway,
                self.notifier.notify,
                self.shopify,
                self.reconcile_interval,
                lock=for_engine(self.store.engine),
            )

        @razorpay.listener("after_server_start")
        async def start(*_: Any) -> None:
            assert self.durable is not None
            self.durable.start()
            if self.reconciler is None:
                return
            self._reconciling = asyncio.create_task(self.reconciler.run_forever())
            logger.info(
                "Razorpay webhook ready (signature check %s); reconciling every %.0fs, "
                "one pass at a time (%s lock)",
                "on" if self.secrets else "OFF: refusing webhooks",
                self.reconcile_interval,
                self.reconciler.lock.backend,
            )

        @razorpay.listener("before_server_stop")
        async def stop(*_: Any) -> None:
            if self._reconciling is not None:
                self._reconciling.cancel()
            if self._applying:  # what is not applied by then, the next consumer applies
                await asyncio.wait(self._applying, timeout=SHUTDOWN_GRACE_SECONDS)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE_SECONDS)
            if self._reconciling is not None:
                await asyncio.wait([self._reconciling], timeout=SHUTDOWN_GRACE_SECONDS)
            if self.reconciler is not None:
                await self.reconciler.lock.close()
            if self.durable is not None:
                await self.durable.stop()

        return razorpay

    def _refusal(self, request: Request) -> HTTPResponse | None:
        if not self.secrets:
            logger.error(NO_SECRET)
            return _error(503, "RAZORPAY_WEBHOOK_SECRET is not set: webhooks cannot be verified")
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        if not signature_is_valid(
            request.body, request.headers.get(SIGNATURE_HEADER), self.secrets
        ):
            logger.warning(
                "Razorpay webhook: missing or invalid %s from %s", SIGNATURE_HEADER, request.ip
            )
            return _error(403, f"missing or invalid {SIGNATURE_HEADER}")
        return None

    def _apply_soon(self, event: PaymentEvent, key: str, lease: str) -> None:
        task = asyncio.create_task(self._apply_held(event, key, lease))
        self._applying.add(task)
        task.add_done_callback(self._applying.discard)

    async def _apply_held(self, event: PaymentEvent, key: str, lease: str) -> None:
        """Apply an event this process wrote to the inbox as its own: the inbox row is
        marked done in the event's transaction. A crash before leaves it to the consumer
        (after a restart, at once); a failure hands it to the consumer's retries now."""
        assert self.durable is not None
        inbox = self.durable.inbox
        queue_notice = self._queue_notice(event)

        def then(conn: Connection, applied: Applied) -> None:
            queue_notice(conn, applied)
            inbox.finish_held_in(conn, key, lease)

        try:
            applied = await apply_event(self.store, event, then)
            if applied.outcome is Outcome.DUPLICATE:  # applied before: nothing was written
                await inbox.finish_held(key, lease)
        except Exception:
            logger.exception("Razorpay event %s: applying failed, left to the inbox", key)
            with contextlib.suppress(Exception):
                await inbox.give_back(key, lease)
            self.durable.consumer.wake()
            return
        self._after_applied(applied)

    async def _consume_event(self, item: InboxItem) -> None:
        event = PaymentEvent.from_body(item.payload["event_id"], json.loads(item.payload["body"]))
        applied = await apply_event(self.store, event, self._queue_notice(event))
        self._after_applied(applied)

    def _queue_notice(self, event: PaymentEvent) -> Callable[[Connection, Applied], None]:
        """The customer's notice, written to the inbox with the event it comes from."""

        def queue(conn: Connection, applied: Applied) -> None:
            notice = payment_notice(event.event_id, applied)
            if notice is None:
                return
            assert self.durable is not None
            self.durable.inbox.add_in(conn, [notice])

        return queue

    async def _consume_notice(self, item: InboxItem) -> None:
        assert self.notifier is not None
        applied = Applied(
            Outcome(item.payload["outcome"]), int(item.payload["order_number"]), item.customer_id
        )
        if not await self.notifier.notify(applied, source=f"inbox:{item.id}"):
            raise RuntimeError(f"order #{applied.order_number}: the customer could not be told")

    def _after_applied(self, applied: Applied) -> None:
        if applied.notify_intent is not None and self.durable is not None:
            self.durable.wake()
        if applied.outcome is not Outcome.PAID or self.shopify is None:
            return
        # Shopify is slow and optional: after the event, and the reconciler catches up.
        task = asyncio.create_task(self._sync_shopify(applied.order_number or 0))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync_shopify(self, number: int) -> None:
        assert self.shopify is not None
        try:
            await sync_paid_order(self.store, self.shopify, number)
        except ShopifyError as exc:
            logger.warning("Shopify sync of order #%s postponed to the reconciler: %s", number, exc)


def token_is_valid(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "ignore"), token.encode()
    )


def _event_item(event: PaymentEvent, raw_body: bytes) -> NewItem:
    # Events of one order are applied one at a time, and never hold up a conversation.
    partition = event.reference or str(event.noted_order_number or "")
    return NewItem(
        EVENT_KIND,
        f"razorpay:{partition}"[:64],
        f"razorpay-event:{event.event_id}",
        # The body as signed, not parsed and dumped again: it is valid UTF-8 (the
        # signature check decoded it) and valid JSON, so it holds no NUL and no lone
        # surrogate (those only as \u escapes), which no database takes as text.
        {"event_id": event.event_id, "body": raw_body.decode("utf-8")},
    )


def _event_id(request: Request) -> str:
    # Razorpay always sends one; without it, identical bodies still count as one event.
    header = (request.headers.get(EVENT_ID_HEADER) or "").strip()
    return header[:80] if header else "body:" + hashlib.sha256(request.body).hexdigest()


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)
