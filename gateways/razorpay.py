"""Razorpay Payment Links: create (recovering a link an earlier attempt made), find, fetch, cancel.

The razorpay SDK is blocking (requests), so every call runs in a worker thread with a
timeout. Its errors are turned into two kinds the conversation can explain plainly:
`GatewayUnavailable` (down, slow, garbled: try again later) and `GatewayRejected`
(Razorpay refused the request: retrying the same thing will not help).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from gateways.razorpay_payloads import PaymentLink
from orders.store import Order

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.razorpay.com"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_LINK_EXPIRY_MINUTES = 24 * 60
# Razorpay refuses an expire_by less than 15 minutes ahead; one more minute of slack
# covers the clock difference and the time the request takes.
MIN_LINK_EXPIRY_MINUTES = 16


class PaymentGatewayError(Exception):
    """Razorpay could not give us what we asked for; the message is safe to log."""


class GatewayUnavailable(PaymentGatewayError):
    """Razorpay is down, slow or answered garbage: the same request may work later."""


class GatewayRejected(PaymentGatewayError):
    """Razorpay refused the request (bad data, limits, keys): retrying will not help."""


class GatewayNotConfigured(GatewayRejected):
    """RAZORPAY_KEY_ID / RAZORPAY_KEY_SECRET are not set."""


def link_expiry_minutes() -> int:
    raw = os.environ.get("RAZORPAY_LINK_EXPIRY_MINUTES", "")
    try:
        minutes = int(raw) if raw.strip() else DEFAULT_LINK_EXPIRY_MINUTES
    except ValueError:
        logger.warning(
            "RAZORPAY_LINK_EXPIRY_MINUTES=%r is not a number; using %s",
            raw,
            DEFAULT_LINK_EXPIRY_MINUTES,
        )
        minutes = DEFAULT_LINK_EXPIRY_MINUTES
    return max(minutes, MIN_LINK_EXPIRY_MINUTES)


class RazorpayGateway:
    """The few Payment Links calls the product needs, each off the event loop."""

    def __init__(
        self,
        key_id: str,
        key_secret: str,
        base_url: str = DEFAULT_API_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not (key_id and key_secret):
            raise GatewayNotConfigured("RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET must be set")
        # No SDK retries (enable_retry stays off): a retried POST may meet the
        # duplicate reference_id error; create_link recovers from that itself.
        self.client = razorpay.Client(auth=(key_id, key_secret), base_url=base_url.rstrip("/"))
        self.timeout = timeout

    @classmethod
    def from_env(cls) -> RazorpayGateway:
        return cls(
            os.environ.get("RAZORPAY_KEY_ID", ""),
            os.environ.get("RAZORPAY_KEY_SECRET", ""),
            os.environ.get("RAZORPAY_API_BASE_URL") or DEFAULT_API_BASE_URL,
            float(os.environ.get("RAZORPAY_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS),
        )

    async def _call(self, what: str, fn: Any, *args: Any) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(fn, *args, timeout=self.timeout)
        except BadRequestError as exc:
            raise GatewayRejected(f"Razorpay refused {what}: {exc}") from exc
        except (GatewayError, ServerError) as exc:
            raise GatewayUnavailable(f"Razorpay failed {what}: {exc}") from exc
        except requests.RequestException as exc:
            # Timeouts, refused connections, and non-JSON bodies (an HTML 502 page
            # surfaces as requests' JSONDecodeError, a RequestException).
            raise GatewayUnavailable(
                f"Razorpay unreachable for {what}: {type(exc).__name__}"
            ) from exc
        except ValueError as exc:
            raise GatewayUnavailable(f"Razorpay answered {what} with garbage") from exc

    async def create_link(self, order: Order, reference: str) -> PaymentLink:
        """Create the order's link, or find the one an earlier attempt already made.

        A create can reach Razorpay and still fail here (timeout, dropped connection),
        and a second create with the same reference_id is refused: in both cases the
        link is looked up by its reference instead of failing or making another one.
        """
        data = self._link_request(order, reference)
        try:
            return PaymentLink.from_api(
                await self._call("payment link creation", self.client.payment_link.create, data)
            )
        except (GatewayUnavailable, GatewayRejected) as exc:
            try:
                existing = await self.find_link(reference)
            except PaymentGatewayError:
                existing = None
            if existing is None:
                raise
            logger.info(
                "Recovered payment link %s for order #%s (reference %s) after: %s",
                existing.id,
                order.number,
                reference,
                exc,
            )
            return existing

    async def find_link(self, reference: str) -> PaymentLink | None:
        found = await self._call(
            "payment link lookup", self.client.payment_link.all, {"reference_id": reference}
        )
        links = [
            link
            for link in found.get("payment_links") or []
            if link.get("reference_id") == reference
        ]
        return PaymentLink.from_api(links[0]) if links else None

    async def fetch_link(self, link_id: str) -> PaymentLink:
        return PaymentLink.from_api(
            await self._call("payment link fetch", self.client.payment_link.fetch, link_id)
        )

    async def cancel_link(self, link_id: str) -> PaymentLink:
        return PaymentLink.from_api(
            await self._call("payment link cancel", self.client.payment_link.cancel, link_id)
        )

    @staticmethod
    def _link_request(order: Order, reference: str) -> dict[str, Any]:
        return {
            "amount": order.total,
            "currency": order.currency,
            "accept_partial": False,
            "reference_id": reference,
            "description": f"Order #{order.number}"[:2048],
            "customer": {"name": order.customer_name[:50], "contact": _contact(order.customer_id)},
            "notify": {"sms": False, "email": False},  # the link goes out on WhatsApp
            "reminder_enable": True,
            "notes": {"order_number": str(order.number), "customer_id": order.customer_id},
            "expire_by": int(time.time()) + link_expiry_minutes() * 60,
        }


def _contact(whatsapp_id: str) -> str:
    # WhatsApp ids are usually the number without "+"; Meta's newer user ids are not
    # phone numbers at all, and Razorpay would refuse them as a contact.
    return f"+{whatsapp_id}" if whatsapp_id.isdigit() else ""


_gateway: RazorpayGateway | None = None


def get_gateway() -> RazorpayGateway:
    """One gateway (one HTTP connection pool) per process, built from the environment."""
    global _gateway
    if _gateway is None:
        _gateway = RazorpayGateway.from_env()
    return _gateway
