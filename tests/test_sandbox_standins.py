"""The sandbox's stand-ins behave like the documented APIs (shared/reference/): Meta's
Graph API messages endpoint and Razorpay's Payment Links, mounted as the sandbox mounts
them, called over HTTP; the product's own gateway and WhatsApp client talk to them.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pytest

from channels.whatsapp.client import GraphApiError, WhatsAppClient
from gateways.razorpay import GatewayRejected, RazorpayGateway
from sandbox.app import GRAPH_PREFIX, JOURNAL, RAZORPAY_PREFIX
from sandbox.harness.razorpay_stack import place_order
from sandbox.harness.sandbox_bot import sandbox_with_bot, settings
from sandbox.razorpay_api import DUPLICATE_REFERENCE

S = settings("http://unused")
AUTH = "Basic " + base64.b64encode(f"{S.key_id}:{S.key_secret}".encode()).decode()
ERROR_KEYS = {"code", "description", "field", "source", "step", "reason", "metadata"}


async def call(method: str, url: str, body: Any = None, auth: str = AUTH,
               params: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, url, json=body, params=params, headers={"Authorization": auth}
    ) as response:
        return response.status, await response.json()


def client_for(url: str) -> WhatsAppClient:
    return WhatsAppClient(S.access_token, S.phone_number_id, base_url=url + GRAPH_PREFIX,
                          api_version="v21.0", max_attempts=1)


def link_request(reference: str, **changes: Any) -> dict[str, Any]:
    return {"amount": 79900, "currency": "INR", "reference_id": reference,
            "description": "Order #10001", "customer": {"name": "Asha", "contact": "+919800000001"},
            "notes": {"order_number": "10001"}, "expire_by": int(time.time()) + 3600, **changes}


# -- Graph API -----------------------------------------------------------------------


async def test_graph_accepts_a_message_like_meta_and_records_it_for_the_chat():
    async with sandbox_with_bot() as (url, _, app):
        client = client_for(url)
        try:
            await client.send("919800000001", {"type": "text", "text": {"body": "Namaste"}})
        finally:
            await client.close()
        [bot] = app[JOURNAL].entries("919800000001", ("bot",))
        assert bot.data["id"].startswith("wamid.")
        assert bot.data["message"]["text"] == {"body": "Namaste"}
        [logged] = app[JOURNAL].entries(kinds=("request",))
        assert (logged.data["service"], logged.data["path"], logged.data["status"]) == (
            "graph", f"/v21.0/{S.phone_number_id}/messages", 200)
        assert "Authorization" not in str(logged.data)  # no secrets in the log


async def test_graph_refuses_a_wrong_token_and_a_bad_message_with_metas_error_body():
    async with sandbox_with_bot() as (url, _, app):
        messages = f"{url}{GRAPH_PREFIX}/v21.0/{S.phone_number_id}/messages"
        status, body = await call("POST", messages, {"messaging_product": "whatsapp"},
                                  auth="Bearer wrong")
        assert status == 401 and body["error"]["code"] == 190
        assert body["error"]["type"] == "OAuthException" and body["error"]["fbtrace_id"]

        too_long = {"messaging_product": "whatsapp", "to": "919800000001", "type": "interactive",
                    "interactive": {"type": "button", "body": {"text": "Pick"}, "action": {
                        "buttons": [{"type": "reply",
                                     "reply": {"id": "/a", "title": "x" * 21}}]}}}
        status, body = await call("POST", messages, too_long, auth=f"Bearer {S.access_token}")
        assert status == 400 and body["error"]["code"] == 131009
        assert "button title" in body["error"]["error_data"]["details"]
        [rejected] = app[JOURNAL].entries("919800000001", ("rejected",))
        assert rejected.data["error"]["error"]["code"] == 131009

        status, body = await call("POST", f"{url}{GRAPH_PREFIX}/v21.0/other/messages",
                                  {"messaging_product": "whatsapp"},
                                  auth=f"Bearer {S.access_token}")
        assert status == 400 and body["error"]["code"] == 100


async def test_graph_read_receipt_marks_the_customers_message():
    async with sandbox_with_bot() as (url, _, app):
        app[JOURNAL].record_customer("919800000001", {"id": "wamid.IN1", "type": "text"}, 200, {})
        client = client_for(url)
        try:
            await client.mark_as_read("wamid.IN1")
        finally:
            await client.close()
        [read] = app[JOURNAL].entries("919800000001", ("read",))
        assert read.data == {"message_id": "wamid.IN1", "typing": True}


async def test_graph_client_errors_surface_as_in_production():
    async with sandbox_with_bot(access_token="other") as (url, _, _app):
        client = client_for(url)
        try:
            with pytest.raises(GraphApiError) as error:
                await client.send("919800000001", {"type": "text", "text": {"body": "hi"}})
        finally:
            await client.close()
        assert error.value.code == 190 and error.value.fbtrace_id


# -- Razorpay Payment Links ------------------------------------------------------------


async def test_create_fetch_list_cancel_have_razorpays_shapes():
    async with sandbox_with_bot() as (url, _, app):
        links = f"{url}{RAZORPAY_PREFIX}/v1/payment_links"
        status, link = await call("POST", links, link_request("10001"))
        assert status == 200
        assert link["id"].startswith("plink_") and link["status"] == "created"
        assert link["short_url"] == f"http://localhost:8080/pay/{link['id']}"
        assert (link["amount"], link["amount_paid"], link["currency"]) == (79900, 0, "INR")
        assert link["reference_id"] == "10001" and link["payments"] is None
        assert link["notes"] == {"order_number": "10001"}

        status, fetched = await call("GET", f"{links}/{link['id']}")
        assert status == 200 and fetched == link
        await call("POST", links, link_request("10002"))
        status, found = await call("GET", links, params={"reference_id": "10001"})
        assert status == 200 and [x["id"] for x in found["payment_links"]] == [link["id"]]
        status, everything = await call("GET", links)
        assert len(everything["payment_links"]) == 2

        status, cancelled = await call("POST", f"{links}/{link['id']}/cancel")
        assert status == 200 and cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
        status, again = await call("POST", f"{links}/{link['id']}/cancel")
        assert status == 400 and "cancelled" in again["error"]["description"]

        logged = [(e.data["method"], e.data["path"], e.data["status"])
                  for e in app[JOURNAL].entries(kinds=("request",))]
        assert logged[0] == ("POST", "/v1/payment_links", 200)
        assert ("GET", "/v1/payment_links", 200) in logged


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"amount": 99}, "amount", "atleast INR 1.00"),
        ({"amount": "799"}, "amount", "atleast INR 1.00"),
        ({"reference_id": "r" * 41}, "reference_id", "40 characters"),
        ({"expire_by": int(time.time()) + 60}, "expire_by", "15 minutes"),
    ],
)
async def test_create_refuses_what_razorpay_refuses(changes, field, words):
    async with sandbox_with_bot() as (url, _, _app):
        status, body = await call("POST", f"{url}{RAZORPAY_PREFIX}/v1/payment_links",
                                  link_request("10001", **changes))
        assert status == 400 and set(body["error"]) == ERROR_KEYS
        assert body["error"]["code"] == "BAD_REQUEST_ERROR" and body["error"]["field"] == field
        assert words in body["error"]["description"]


async def test_duplicate_reference_unknown_id_and_bad_keys():
    async with sandbox_with_bot() as (url, _, _app):
        links = f"{url}{RAZORPAY_PREFIX}/v1/payment_links"
        await call("POST", links, link_request("10001"))
        status, body = await call("POST", links, link_request("10001"))
        assert status == 400 and body["error"]["description"] == DUPLICATE_REFERENCE
        status, body = await call("GET", f"{links}/plink_Nope")
        assert status == 400 and body["error"]["field"] == "id"
        status, body = await call("GET", links, auth="Basic " + base64.b64encode(b"k:s").decode())
        assert status == 401 and set(body["error"]) == ERROR_KEYS


async def test_the_products_gateway_works_against_the_mounted_stand_in(sqlite_store):
    async with sandbox_with_bot() as (url, _, _app):
        gateway = RazorpayGateway(S.key_id, S.key_secret, url + RAZORPAY_PREFIX, timeout=5)
        order = await place_order(sqlite_store)
        link = await gateway.create_link(order, str(order.number))
        assert link.amount == order.total and link.short_url.endswith(f"/pay/{link.id}")
        # A second create with the same reference recovers the first link.
        assert (await gateway.create_link(order, str(order.number))).id == link.id
        assert (await gateway.find_link(str(order.number))).id == link.id
        assert (await gateway.fetch_link(link.id)).status == "created"
        assert (await gateway.cancel_link(link.id)).status == "cancelled"
        with pytest.raises(GatewayRejected):
            await gateway.cancel_link(link.id)
        wrong = RazorpayGateway(S.key_id, "wrong", url + RAZORPAY_PREFIX, timeout=5)
        with pytest.raises(GatewayRejected):
            await wrong.fetch_link(link.id)
