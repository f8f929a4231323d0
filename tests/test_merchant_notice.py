"""The merchant's handover notice outside WhatsApp's 24-hour window: refused as free-form
text (131047), it goes out once as MERCHANT_NOTICE_TEMPLATE; without one it is given up
on with advice that names the setting. Real HTTP to the Graph API stand-in on loopback,
the outbox on SQLite, no model."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

import handover
from channels.whatsapp import WhatsAppOutput
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from durable.outbox import FallbackTemplate, Outbox
from durable.sender import OutboxSender
from durable.tables import outbox
from orders.store import get_store
from sandbox.harness.graph_api import PHONE_NUMBER_ID, TOKEN
from server import inbox_cli

DOMAIN = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))
CUSTOMER = "919812300001"
MERCHANT = "919800000999"
INBOX = "https://shop.example/webhooks/merchant/"
TEMPLATE = "handover_alert"


@pytest.fixture(autouse=True)
def _merchant(monkeypatch):
    monkeypatch.setenv("MERCHANT_WHATSAPP_NUMBER", "+91 98000 00999")
    monkeypatch.setenv("MERCHANT_INBOX_URL", INBOX)
    monkeypatch.delenv("MERCHANT_LANGUAGE", raising=False)
    monkeypatch.delenv("MERCHANT_NOTICE_TEMPLATE", raising=False)
    monkeypatch.delenv("MERCHANT_NOTICE_TEMPLATE_LANGUAGE", raising=False)


@pytest.fixture
async def output(graph):
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, backoff_base=0.01)
    yield WhatsAppOutput(client, ChannelState.in_memory())
    await client.close()


@pytest.fixture
def sender(output):
    store = get_store()
    return OutboxSender(Outbox(store.engine), lambda name: output, store, "test-sender")


def notices() -> list[dict[str, Any]]:
    with get_store().engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings()]


def documented_template(language: str = "en") -> dict[str, Any]:
    """The Graph API's template message, after the Cloud API's documentation."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": MERCHANT,
        "type": "template",
        "template": {
            "name": TEMPLATE,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": CUSTOMER},
                {"type": "text", "text": "money deducted"},
                {"type": "text", "text": INBOX},
            ]}],
        },
    }


async def test_a_template_message_has_the_documented_shape(output, graph):
    fallback = FallbackTemplate(
        "MERCHANT_NOTICE_TEMPLATE", TEMPLATE, "hi", (CUSTOMER, "money\n deducted", INBOX)
    )
    [wamid] = await output.deliver(MERCHANT, fallback.response())
    assert wamid.startswith("wamid.")
    # A line break in a value would be refused by Meta: it is sent as a space.
    assert graph.sent == [documented_template("hi")]


async def test_within_the_window_the_notice_is_free_form_text(monkeypatch, sender, graph):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)
    await sender.flush()
    [message] = graph.sent
    assert message["type"] == "text" and "fallback_template" not in message
    assert message["text"]["body"].startswith("🙋 A customer needs a person")
    [row] = notices()
    assert row["status"] == "sent" and json.loads(row["message_ids"]) == [
        "wamid.SANDBOX00000001"
    ]


async def test_refused_notice_goes_out_once_as_the_template(monkeypatch, sender, graph, caplog):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE_LANGUAGE", "en_US")
    graph.close_window(MERCHANT)
    assert await handover.begin(CUSTOMER, "whatsapp", "money_deducted", DOMAIN)

    with caplog.at_level(logging.INFO):
        await sender.flush()
        await sender.flush()  # nothing is left to send: the row is done

    refused, accepted = graph.requests
    assert refused.status == 400 and refused.body["type"] == "text"
    assert accepted.status == 200
    assert graph.sent == [documented_template("en_US")]
    [row] = notices()
    assert (row["status"], row["parts_sent"], row["attempts"]) == ("sent", 1, 0)
    assert json.loads(row["message_ids"]) == ["wamid.SANDBOX00000001"]
    assert f"sent as template '{TEMPLATE}'" in caplog.text
    assert TOKEN not in caplog.text


async def test_without_a_template_the_notice_fails_naming_the_setting(
    sender, graph, caplog, capsys
):
    graph.close_window(MERCHANT)
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)

    with caplog.at_level(logging.INFO):
        await sender.flush()
        await sender.flush()

    assert graph.sent == []
    assert len(graph.requests) == 1  # refused once, never tried again
    [row] = notices()
    assert row["status"] == "failed" and json.loads(row["message_ids"]) == []
    assert "code=131047" in row["last_error"]
    assert "set MERCHANT_NOTICE_TEMPLATE" in row["last_error"]
    [given_up] = [r for r in caplog.records if "given up" in r.getMessage()]
    assert given_up.levelno == logging.ERROR
    assert "MERCHANT_NOTICE_TEMPLATE" in given_up.getMessage()
    assert TOKEN not in caplog.text

    # `make inbox` shows it, with why (its own event loop, so in a thread of its own).
    assert await asyncio.to_thread(inbox_cli.main, []) == 0
    shown = capsys.readouterr().out
    assert f"#{row['id']}" in shown and "set MERCHANT_NOTICE_TEMPLATE" in shown


async def test_a_refused_template_fails_the_notice_with_both_reasons(
    monkeypatch, sender, graph
):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", "not_approved")
    graph.fail_next(1, 400, 131047, "(#131047) Re-engagement message")
    graph.fail_next(1, 404, 132001, "(#132001) Template name does not exist in the translation")
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)

    await sender.flush()
    await sender.flush()

    assert graph.sent == [] and len(graph.requests) == 2
    assert graph.requests[1].body["template"]["name"] == "not_approved"
    [row] = notices()
    assert row["status"] == "failed"
    assert "template 'not_approved' (MERCHANT_NOTICE_TEMPLATE)" in row["last_error"]
    assert "code=132001" in row["last_error"]
