"""The customer on a payment link's page: pay, fail or let it expire, and Razorpay's
webhooks about it, signed with the webhook secret and posted to the bot's real route.

A paid link gets the events Razorpay sends for it, one delivery each with its own
event id (payment.captured, order.paid, payment_link.paid): the bot must confirm once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commerce.money import format_inr
from sandbox.bot import RAZORPAY_WEBHOOK, BotClient
from sandbox.razorpay_api import CLOSED_STATUSES, RazorpayStandIn

PAID_EVENTS = ("payment.captured", "order.paid", "payment_link.paid")
ACTIONS = ("pay", "fail", "expire")


class CheckoutError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Delivery:
    event: str
    status: int  # the bot's HTTP answer (0: not reachable)
    answer: Any


class Checkout:
    def __init__(self, razorpay: RazorpayStandIn, bot: BotClient) -> None:
        self.razorpay = razorpay
        self.bot = bot

    def view(self, link_id: str) -> dict[str, Any]:
        """What the checkout page shows about a link."""
        link = self._link(link_id)
        customer = link.get("customer") or {}
        return {
            "id": link["id"],
            "status": link["status"],
            "amount": link["amount"],
            "amount_text": format_inr(link["amount"]),
            "currency": link["currency"],
            "description": link["description"],
            "reference_id": link["reference_id"],
            "customer_name": customer.get("name", ""),
            "customer_contact": customer.get("contact", ""),
            "expire_by": link["expire_by"],
        }

    async def act(self, link_id: str, action: str, method: str = "upi") -> list[Delivery]:
        if action not in ACTIONS:
            raise CheckoutError(404, f"unknown action {action!r}")
        link = self._link(link_id)
        if link["status"] in CLOSED_STATUSES:
            raise CheckoutError(409, f"this payment link is {link['status']}")
        if action == "pay":
            payment = self.razorpay.pay(link_id, method=method)
            return [await self._send(name, link_id, payment) for name in PAID_EVENTS]
        if action == "fail":
            payment = self.razorpay.fail_payment(link_id, method=method)
            return [await self._send("payment.failed", link_id, payment)]
        self.razorpay.expire(link_id)
        return [await self._send("payment_link.expired", link_id, None)]

    def _link(self, link_id: str) -> dict[str, Any]:
        link = self.razorpay.links.get(link_id)
        if link is None:
            raise CheckoutError(404, "no such payment link")
        return link

    async def _send(self, event: str, link_id: str, payment: dict[str, Any] | None) -> Delivery:
        body, headers = self.razorpay.webhook(event, link_id, payment)
        status, answer = await self.bot.deliver(RAZORPAY_WEBHOOK, body, headers)
        return Delivery(event, status, answer)
