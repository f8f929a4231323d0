"""A local stand-in for Razorpay's Payment Links API and its webhooks.

It checks what Razorpay checks (basic auth with key id and secret, a positive integer
amount, a reference_id unique per account and at most 40 characters, expire_by at
least 15 minutes ahead) and answers with Razorpay's entity and error shapes, after
shared/reference/razorpay.md. The calls are the ones the product makes: create, fetch,
list by reference_id, cancel. `pay`, `fail_payment` and `expire` play the customer on
the link's page; `webhook()` builds the event Razorpay would send and signs it with a
real HMAC of the webhook secret.

Failures can be scripted for the next calls: a timeout after the link was made (the
request reached Razorpay, the answer did not reach us), an HTML 502 from a proxy, a
JSON 500. The tests run it on its own port (`start`); the sandbox mounts its routes
under a prefix (`routes`), with `link_url` pointing short URLs at its checkout page.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.exchange import Exchange, Observer

DUPLICATE_REFERENCE = "payment link creation with reference ID already attempted"
CLOSED_STATUSES = ("paid", "cancelled", "expired")


def error_body(description: str, field: str | None = None, code: str = "BAD_REQUEST_ERROR") -> dict:
    return {
        "error": {
            "code": code,
            "description": description,
            "field": field,
            "source": "business",
            "step": "payment_initiation",
            "reason": "input_validation_failed",
            "metadata": {},
        }
    }


async def _sent(request: web.Request) -> Any:
    """What the client sent, for the request log: the JSON body, else the query."""
    if not request.can_read_body:
        return dict(request.query) or None
    text = await request.text()  # aiohttp keeps the body: a handler may have read it
    try:
        return json.loads(text)
    except ValueError:
        return text


def sign(body: bytes, secret: str) -> str:
    """X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


Work = Callable[[], Awaitable[tuple[int, dict]]]


class RazorpayStandIn:
    def __init__(
        self,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        *,
        prefix: str = "",
        link_url: Callable[[str], str] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.prefix = prefix.rstrip("/")
        self.link_url = link_url or (lambda link_id: f"https://rzp.io/i/{link_id[-8:]}")
        self.observer = observer
        self.links: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = 2.0  # how long a scripted timeout keeps the client waiting
        self._failures: list[tuple[str, str]] = []  # (operation, kind)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- serving -----------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        links = self.prefix + "/v1/payment_links"
        return [
            web.post(links, self._create),
            web.get(links, self._list),
            web.get(links + "/{id}", self._fetch),
            web.post(links + "/{id}/cancel", self._cancel),
        ]

    async def start(self) -> RazorpayStandIn:
        """Serve on its own free loopback port (tests); sets `base_url`."""
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}{self.prefix}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting and inspection ------------------------------------------------

    def fail_next(self, operation: str, kind: str, times: int = 1) -> None:
        """Script the next `times` calls of `operation` (create, fetch, list, cancel).

        kind: "timeout_after" (done, answered too late), "timeout" (answered too late,
        nothing done), "html_502" (a proxy's HTML page), "server_error" (JSON 500).
        """
        self._failures.extend([(operation, kind)] * times)

    def calls(self, method: str, prefix: str = "/v1/payment_links") -> int:
        return sum(1 for m, path in self.requests if m == method and path.startswith(prefix))

    def link_for(self, reference: str) -> dict[str, Any]:
        return next(link for link in self.links.values() if link["reference_id"] == reference)

    # -- the customer on the link's page -------------------------------------------

    def pay(
        self, link_id: str, amount: int | None = None, method: str = "upi", currency: str = "INR"
    ) -> dict[str, Any]:
        """The customer pays the link; returns the payment entity."""
        link = self.links[link_id]
        amount = link["amount"] if amount is None else amount
        payment = self._payment(link, amount, "captured", method, currency)
        link["payments"] = [
            *(link["payments"] or []),
            {
                "amount": amount,
                "created_at": payment["created_at"],
                "method": method,
                "payment_id": payment["id"],
                "plink_id": link_id,
                "status": "captured",
                "updated_at": payment["created_at"],
            },
        ]
        link["amount_paid"] += amount
        link["status"] = "paid" if link["amount_paid"] >= link["amount"] else "partially_paid"
        link["updated_at"] = payment["created_at"]
        return payment

    def fail_payment(self, link_id: str, method: str = "card") -> dict[str, Any]:
        """A declined attempt: the link stays payable; returns the failed payment entity."""
        link = self.links[link_id]
        payment = self._payment(link, link["amount"], "failed", method, link["currency"])
        payment.update(
            error_code="BAD_REQUEST_ERROR",
            error_description="Payment failed because the card was declined"
            if method == "card"
            else "Payment was unsuccessful as the UPI request was declined",
        )
        return payment

    def expire(self, link_id: str) -> None:
        now = int(time.time())
        self.links[link_id].update(status="expired", expired_at=now, updated_at=now)

    def webhook(
        self,
        event: str,
        link_id: str,
        payment: dict[str, Any] | None = None,
        *,
        secret: str | None = None,
        event_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed delivery of `event` about the link (and payment), as Razorpay sends it."""
        link = dict(self.links[link_id])
        payload: dict[str, Any] = {}
        if event.startswith("payment_link."):
            payload["payment_link"] = {"entity": link}
        if payment is not None:
            payload["payment"] = {"entity": payment}
        if event in ("payment_link.paid", "order.paid"):
            payload["order"] = {
                "entity": {
                    "id": link["order_id"],
                    "entity": "order",
                    "amount": link["amount"],
                    "amount_paid": link["amount_paid"],
                    "currency": link["currency"],
                    "receipt": link["reference_id"],
                    "status": "paid",
                    "notes": link["notes"],
                }
            }
        body = json.dumps(
            {
                "entity": "event",
                "account_id": "acc_SandboxAcct01",
                "event": event,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(body, self.webhook_secret if secret is None else secret),
            "X-Razorpay-Event-Id": event_id or f"evt_{secrets.token_hex(7)}",
        }
        return body, headers

    # -- the API -----------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return hmac.compare_digest(
            request.headers.get("Authorization", "").encode(), f"Basic {expected}".encode()
        )

    def _scripted(self, operation: str) -> str | None:
        for index, (op, kind) in enumerate(self._failures):
            if op == operation:
                del self._failures[index]
                return kind
        return None

    async def _answer(self, operation: str, request: web.Request, work: Work) -> web.Response:
        path = request.path.removeprefix(self.prefix)
        self.requests.append((request.method, path))
        status, body = await self._outcome(operation, request, work)
        if self.observer is not None:
            self.observer(
                Exchange("razorpay", request.method, path, status, await _sent(request), body)
            )
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return web.json_response(body, status=status)

    async def _outcome(
        self, operation: str, request: web.Request, work: Work
    ) -> tuple[int, dict | str]:
        if not self._authorized(request):
            return 401, error_body("The api key provided is invalid")
        kind = self._scripted(operation)
        if kind == "html_502":
            return 502, "<html><body>502 Bad Gateway</body></html>"
        if kind == "server_error":
            return 500, error_body("The server encountered an error", code="SERVER_ERROR")
        if kind == "timeout":
            await asyncio.sleep(self.slow_seconds)
            return 504, error_body("late")
        status, body = await work()
        if kind == "timeout_after":
            await asyncio.sleep(self.slow_seconds)
        return status, body

    async def _create(self, request: web.Request) -> web.Response:
        async def work() -> tuple[int, dict]:
            try:
                data = await request.json()
            except ValueError:
                return 400, error_body("The request body is not valid JSON")
            if not isinstance(data, dict):
                return 400, error_body("The request body is not valid JSON")
            amount = data.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 100:
                return 400, error_body("The amount must be atleast INR 1.00", "amount")
            reference = data.get("reference_id")
            if reference and len(reference) > 40:
                return 400, error_body(
                    "reference_id may not be greater than 40 characters", "reference_id"
                )
            if reference and any(link["reference_id"] == reference for link in self.links.values()):
                return 400, error_body(DUPLICATE_REFERENCE, "reference_id")
            expire_by = data.get("expire_by")
            if expire_by is not None and expire_by < time.time() + 15 * 60:
                return 400, error_body(
                    "expire_by should be at least 15 minutes after current time", "expire_by"
                )
            number = next(self._ids)
            link_id = f"plink_Sbx{number:011d}"
            now = int(time.time())
            link = {
                "id": link_id,
                "accept_partial": bool(data.get("accept_partial")),
                "amount": amount,
                "amount_paid": 0,
                "cancelled_at": 0,
                "created_at": now,
                "currency": data.get("currency", "INR"),
                "customer": data.get("customer") or {},
                "description": data.get("description", ""),
                "expire_by": expire_by or 0,
                "expired_at": 0,
                "first_min_partial_amount": 0,
                "notes": data.get("notes") or [],  # Razorpay's empty notes are a list
                "notify": data.get("notify") or {},
                "order_id": f"order_Sbx{number:011d}",
                "payments": None,
                "reference_id": reference or "",
                "reminder_enable": bool(data.get("reminder_enable")),
                "reminders": [],
                "short_url": self.link_url(link_id),
                "status": "created",
                "updated_at": now,
                "upi_link": False,
                "user_id": "",
            }
            self.links[link_id] = link
            return 200, link

        return await self._answer("create", request, work)

    async def _list(self, request: web.Request) -> web.Response:
        async def work() -> tuple[int, dict]:
            reference = request.query.get("reference_id")
            found = [
                link
                for link in self.links.values()
                if reference is None or link["reference_id"] == reference
            ]
            return 200, {"payment_links": found}

        return await self._answer("list", request, work)

    async def _fetch(self, request: web.Request) -> web.Response:
        async def work() -> tuple[int, dict]:
            link = self.links.get(request.match_info["id"])
            if link is None:
                return 400, error_body("The id provided does not exist", "id")
            return 200, link

        return await self._answer("fetch", request, work)

    async def _cancel(self, request: web.Request) -> web.Response:
        async def work() -> tuple[int, dict]:
            link = self.links.get(request.match_info["id"])
            if link is None:
                return 400, error_body("The id provided does not exist", "id")
            if link["status"] in CLOSED_STATUSES:
                return 400, error_body(
                    f"Payment link cannot be cancelled as it is {link['status']}"
                )
            now = int(time.time())
            link.update(status="cancelled", cancelled_at=now, updated_at=now)
            return 200, link

        return await self._answer("cancel", request, work)

    def _payment(
        self, link: dict[str, Any], amount: int, status: str, method: str, currency: str
    ) -> dict[str, Any]:
        return {
            "id": f"pay_Sbx{secrets.token_hex(6)}",
            "entity": "payment",
            "amount": amount,
            "currency": currency,
            "status": status,
            "order_id": link["order_id"],
            "invoice_id": None,
            "international": False,
            "method": method,
            "amount_refunded": 0,
            "captured": status == "captured",
            "description": f"#{link['id'].removeprefix('plink_')}",
            "email": "void@razorpay.com",
            "contact": link["customer"].get("contact", ""),
            "notes": link["notes"],
            "fee": 0,
            "tax": 0,
            "error_code": None,
            "error_description": None,
            "created_at": int(time.time()),
        }
