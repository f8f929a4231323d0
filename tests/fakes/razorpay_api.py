"""A local stand-in for Razorpay's Payment Links API and webhooks, on real loopback HTTP.

It checks what Razorpay checks (basic auth with key id and secret, a positive integer
amount, a reference_id unique per account, expire_by at least 15 minutes ahead) and
answers with Razorpay's entity and error shapes. Failures can be scripted for the next
calls: a timeout after the link was made (the request reached Razorpay, the answer
did not reach us), an HTML 502 from a proxy, a JSON 500. `webhook()` builds an event
body like Razorpay's and signs it with a real HMAC.
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
from typing import Any

from aiohttp import web

KEY_ID = "rzp_test_fakekey"
KEY_SECRET = "fake_key_secret"
WEBHOOK_SECRET = "fake_webhook_secret"

DUPLICATE_REFERENCE = "payment link creation with reference ID already attempted"


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


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeRazorpay:
    def __init__(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.links: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = 2.0  # how long a scripted timeout keeps the client waiting
        self._failures: list[tuple[str, str]] = []  # (operation, kind)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> FakeRazorpay:
        app = web.Application()
        app.router.add_post("/v1/payment_links", self._create)
        app.router.add_get("/v1/payment_links", self._list)
        app.router.add_get("/v1/payment_links/{id}", self._fetch)
        app.router.add_post("/v1/payment_links/{id}/cancel", self._cancel)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
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
        return payment

    def fail_payment(self, link_id: str) -> dict[str, Any]:
        link = self.links[link_id]
        payment = self._payment(link, link["amount"], "failed", "card", link["currency"])
        payment.update(
            error_code="BAD_REQUEST_ERROR",
            error_description="Payment failed because the card was declined",
        )
        return payment

    def expire(self, link_id: str) -> None:
        self.links[link_id]["status"] = "expired"
        self.links[link_id]["expired_at"] = int(time.time())

    def webhook(
        self,
        event: str,
        link_id: str,
        payment: dict[str, Any] | None = None,
        *,
        secret: str = WEBHOOK_SECRET,
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
                "account_id": "acc_FakeAccount01",
                "event": event,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(body, secret),
            "X-Razorpay-Event-Id": event_id or f"evt_{secrets.token_hex(7)}",
        }
        return body, headers

    # -- the API -----------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _scripted(self, operation: str) -> str | None:
        for index, (op, kind) in enumerate(self._failures):
            if op == operation:
                del self._failures[index]
                return kind
        return None

    async def _answer(self, operation: str, request: web.Request, work: Any) -> web.Response:
        self.requests.append((request.method, request.path))
        if not self._authorized(request):
            return web.json_response(
                error_body("The api key provided is invalid", code="BAD_REQUEST_ERROR"), status=401
            )
        kind = await self._scripted(operation)
        if kind == "html_502":
            return web.Response(
                status=502,
                text="<html><body>502 Bad Gateway</body></html>",
                content_type="text/html",
            )
        if kind == "server_error":
            return web.json_response(
                error_body("The server encountered an error", code="SERVER_ERROR"), status=500
            )
        if kind == "timeout":
            await asyncio.sleep(self.slow_seconds)
            return web.json_response(error_body("late"), status=504)
        status, body = await work()
        if kind == "timeout_after":
            await asyncio.sleep(self.slow_seconds)
        return web.json_response(body, status=status)

    async def _create(self, request: web.Request) -> web.Response:
        async def work() -> tuple[int, dict]:
            try:
                data = await request.json()
            except ValueError:
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
            link_id = f"plink_Fake{number:010d}"
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
                "order_id": f"order_Fake{number:010d}",
                "payments": None,
                "reference_id": reference or "",
                "reminder_enable": bool(data.get("reminder_enable")),
                "reminders": [],
                "short_url": f"https://rzp.io/i/fake{number}",
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
            if link["status"] in ("paid", "cancelled", "expired"):
                return 400, error_body(
                    f"Payment link cannot be cancelled as it is {link['status']}"
                )
            link.update(status="cancelled", cancelled_at=int(time.time()))
            return 200, link

        return await self._answer("cancel", request, work)

    def _payment(
        self, link: dict[str, Any], amount: int, status: str, method: str, currency: str
    ) -> dict[str, Any]:
        return {
            "id": f"pay_Fake{secrets.token_hex(5)}",
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
