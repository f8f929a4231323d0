"""A local stand-in for Shopify's Admin GraphQL endpoint: orderCreate and orders by tag.

It checks the access token header and the path, validates what orderCreate needs
(line items, a SALE transaction, PAID), and can be scripted to throttle (Shopify's
THROTTLED error, HTTP 200), fail with a 5xx, or create the order and answer too late.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

from aiohttp import web

TOKEN = "shpat_fake_token"
API_VERSION = "2025-01"
DOMAIN = "fake-chai.myshopify.com"


class FakeShopify:
    def __init__(self, token: str = TOKEN, api_version: str = API_VERSION) -> None:
        self.token = token
        self.path = f"/admin/api/{api_version}/graphql.json"
        self.orders: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.slow_seconds = 1.0
        self._script: list[str | None] = []
        self._ids = itertools.count(5001)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> FakeShopify:
        app = web.Application()
        app.router.add_post(self.path, self._graphql)
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

    def next(self, *kinds: str | None) -> None:
        """Script the next calls: "throttled", "down" (HTTP 503), "slow_create", None (normal)."""
        self._script.extend(kinds)

    async def _graphql(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return web.json_response(
                {"errors": "[API] Invalid API key or access token"}, status=401
            )
        body = await request.json()
        query, variables = body.get("query", ""), body.get("variables") or {}
        operation = "orderCreate" if "orderCreate" in query else "orders"
        self.calls.append(operation)
        kind = self._script.pop(0) if self._script else None
        if kind == "throttled":
            return web.json_response(
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {"cost": {"throttleStatus": {"currentlyAvailable": 0}}},
                }
            )
        if kind == "down":
            return web.Response(status=503, text="Service Unavailable")
        if operation == "orders":
            tag = re.fullmatch(r'tag:"(.+)"', variables.get("query", ""))
            found = [o for o in self.orders if tag and tag.group(1) in o["tags"]]
            return web.json_response(
                {"data": {"orders": {"edges": [{"node": {"id": o["id"]}} for o in found[:1]]}}}
            )
        answer = self._create(variables.get("order") or {})
        if kind == "slow_create":
            await asyncio.sleep(self.slow_seconds)
        return web.json_response(answer)

    def _create(self, order: dict[str, Any]) -> dict[str, Any]:
        errors = []
        if not order.get("lineItems"):
            errors.append({"field": ["order", "lineItems"], "message": "Line items can't be blank"})
        if order.get("financialStatus") != "PAID":
            errors.append({"field": ["order", "financialStatus"], "message": "must be PAID here"})
        if [t.get("kind") for t in order.get("transactions") or []] != ["SALE"]:
            errors.append({"field": ["order", "transactions"], "message": "one SALE expected"})
        if errors:
            return {"data": {"orderCreate": {"order": None, "userErrors": errors}}}
        number = next(self._ids)
        created = {**order, "id": f"gid://shopify/Order/{number}", "name": f"#{number}"}
        self.orders.append(created)
        return {
            "data": {
                "orderCreate": {
                    "order": {"id": created["id"], "name": created["name"]},
                    "userErrors": [],
                }
            }
        }
