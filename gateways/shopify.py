"""Optional: the paid order, created once in Shopify with the Admin GraphQL `orderCreate`.

On only when SHOPIFY_STORE_DOMAIN and SHOPIFY_ACCESS_TOKEN are set. orderCreate has no
idempotency key, so the order keeps the Shopify id, the Shopify order is tagged with
the Razorpay payment id, and that tag is looked up before any create: a create that
timed out after Shopify made the order is found instead of made twice. Throttled or
unreachable: `ShopifyUnavailable`, and the reconciler tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import aiohttp

from orders.store import Order

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2025-01"
DEFAULT_TIMEOUT_SECONDS = 10.0

FIND_BY_TAG = """
query ordersByTag($query: String!) {
  orders(first: 1, query: $query) { edges { node { id } } }
}
"""

ORDER_CREATE = """
mutation orderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name }
    userErrors { field message }
  }
}
"""


class ShopifyError(Exception):
    """Shopify did not create the order; the message is safe to log."""


class ShopifyUnavailable(ShopifyError):
    """Throttled, down or slow: try again later."""


class ShopifyRejected(ShopifyError):
    """Shopify refused the order (userErrors, auth): a human has to look."""


def payment_tag(payment_id: str) -> str:
    return f"razorpay-{payment_id}"


def _money(paise: int, currency: str) -> dict[str, Any]:
    rupees, rest = divmod(paise, 100)
    return {"shopMoney": {"amount": f"{rupees}.{rest:02d}", "currencyCode": currency}}


def order_input(order: Order) -> dict[str, Any]:
    phone = f"+{order.customer_id}" if order.customer_id.isdigit() else None
    return {
        "currency": order.currency,
        "lineItems": [
            {
                "title": item.name,
                "sku": item.sku,
                "quantity": item.quantity,
                "priceSet": _money(item.unit_price, order.currency),
                "requiresShipping": True,
            }
            for item in order.items
        ],
        "financialStatus": "PAID",
        "transactions": [
            {
                "kind": "SALE",
                "status": "SUCCESS",
                "gateway": "razorpay",
                "authorizationCode": order.payment_id,
                "amountSet": _money(order.total, order.currency),
            }
        ],
        "phone": phone,
        "shippingAddress": {
            "lastName": order.customer_name,
            "address1": order.delivery_address[:255],
            "zip": order.pincode,
            "countryCode": "IN",
            "phone": phone,
        },
        "note": f"WhatsApp order #{order.number}",
        "tags": [payment_tag(order.payment_id or ""), "whatsapp"],
        "sourceIdentifier": str(order.number),
    }


class ShopifyClient:
    def __init__(
        self,
        store_domain: str,
        access_token: str,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        base = (base_url or f"https://{store_domain}").rstrip("/")
        self.url = f"{base}/admin/api/{api_version}/graphql.json"
        self._token = access_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_env(cls) -> ShopifyClient | None:
        domain = os.environ.get("SHOPIFY_STORE_DOMAIN")
        token = os.environ.get("SHOPIFY_ACCESS_TOKEN")
        if not (domain and token):
            return None
        return cls(
            domain,
            token,
            os.environ.get("SHOPIFY_API_BASE_URL") or None,
            os.environ.get("SHOPIFY_API_VERSION") or DEFAULT_API_VERSION,
        )

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        # The token goes in this header only, never in a log line.
        headers = {"X-Shopify-Access-Token": self._token, "Content-Type": "application/json"}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session:
                async with session.post(
                    self.url, json={"query": query, "variables": variables}, headers=headers
                ) as resp:
                    if resp.status == 429 or resp.status >= 500:
                        raise ShopifyUnavailable(f"Shopify answered HTTP {resp.status}")
                    if resp.status >= 400:
                        raise ShopifyRejected(f"Shopify answered HTTP {resp.status}")
                    answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise ShopifyUnavailable(f"Shopify unreachable: {type(exc).__name__}") from exc
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                raise ShopifyUnavailable("Shopify throttled the request")
            raise ShopifyRejected(f"Shopify GraphQL errors: {errors}")
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise ShopifyUnavailable("Shopify answered without data")
        return answer["data"]

    async def find_order(self, tag: str) -> str | None:
        data = await self._graphql(FIND_BY_TAG, {"query": f'tag:"{tag}"'})
        edges = ((data.get("orders") or {}).get("edges")) or []
        return edges[0]["node"]["id"] if edges else None

    async def create_order(self, order: Order) -> str:
        data = await self._graphql(
            ORDER_CREATE, {"order": order_input(order), "options": {"sendReceipt": False}}
        )
        result = data.get("orderCreate") or {}
        if result.get("userErrors"):
            raise ShopifyRejected(f"Shopify refused order #{order.number}: {result['userErrors']}")
        created = result.get("order") or {}
        if not created.get("id"):
            raise ShopifyUnavailable("orderCreate returned no order")
        return str(created["id"])
