"""The merchant's handover notice outside WhatsApp's 24-hour window: refused as free-form
text (131047), at once or later in a `failed` status webhook, it goes out once as
MERCHANT_NOTICE_TEMPLATE; without one it is given up on with advice that names the
setting. Real HTTP to the Graph API stand-in and to the WhatsApp webhook (signed) on
loopback, the inbox and outbox on SQLite, no model."""

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
from channels.whatsapp import WhatsAppInput, WhatsAppOutput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.models import Status, WebhookEvent
from channels.whatsapp.store import ChannelState
from durable.outbox import FallbackTemplate, Outbox
from durable.sender import OutboxSender
from durable.tables import inbox, outbox
from orders.store import get_store
from sandbox.harness import whatsapp_meta as meta
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


# -- refused later: a `failed` status webhook (131047) for a notice WhatsApp accepted -----

SIGNED = WhatsAppSettings(app_secret=meta.APP_SECRET, verify_token=meta.VERIFY_TOKEN)


@pytest.fixture
async def hook(graph):
    """The WhatsApp channel served on loopback as `rasa run` mounts it, sending through
    the Graph stand-in; its outbox and inbox in this test's SQLite database."""
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, backoff_base=0.01)
    channel = WhatsAppInput(SIGNED, client, ChannelState.in_memory())
    async with meta.serve([channel], meta.RecordingAgent()) as webhook:
        yield webhook


def failed_status(wamid: str, code: int = 131047, title: str = "Re-engagement message"):
    """A `statuses` webhook as Meta sends it when a message it accepted fails later."""
    status = {
        "id": wamid, "status": "failed", "timestamp": "1732600001", "recipient_id": MERCHANT,
        "errors": [{"code": code, "title": title, "message": title,
                    "error_data": {"details": "Message failed to send because more than "
                                              "24 hours have passed"}}],
    }
    return meta.envelope(meta.value(statuses=[status]))


def inbox_rows() -> list[dict[str, Any]]:
    with get_store().engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(inbox).order_by(inbox.c.id)).mappings()]


async def eventually(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def accepted_notice(graph) -> str:
    """Begin a handover and wait for the notice to be accepted; its wamid."""
    assert await handover.begin(CUSTOMER, "whatsapp", "money_deducted", DOMAIN)
    await graph.wait_for_sent(1)
    await eventually(lambda: notices() and notices()[0]["status"] == "sent")
    [wamid] = json.loads(notices()[0]["message_ids"])
    return wamid


def refusals_done() -> bool:
    rows = [r for r in inbox_rows() if r["kind"] == "window_closed"]
    return bool(rows) and all(r["status"] == "done" for r in rows)


async def test_a_late_refusal_sends_the_template_once(monkeypatch, hook, graph, caplog):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    wamid = await accepted_notice(graph)

    with caplog.at_level(logging.INFO):
        # Meta redelivers: the same status twice in a row, then twice at once.
        for _ in range(2):
            assert (await hook.post(failed_status(wamid)))[0] == 200
        answers = await asyncio.gather(*(hook.post(failed_status(wamid)) for _ in range(2)))
        assert {status for status, _ in answers} == {200}
        await graph.wait_for_sent(2)
        await eventually(refusals_done)
        await asyncio.sleep(0.3)  # room for a second template, which must not come

    notice, template = graph.sent
    assert notice["type"] == "text" and template == documented_template()
    [refusal] = [r for r in inbox_rows() if r["kind"] == "window_closed"]
    assert refusal["dedupe_key"] == f"whatsapp-window-closed:{wamid}"
    first, second = notices()
    assert first["status"] == "sent" and "fallback_template" in json.loads(first["message"])
    assert (second["source"], second["status"]) == (f"window-closed:{first['id']}", "sent")
    assert second["customer_id"] == MERCHANT
    assert f"sending template '{TEMPLATE}' instead" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_status_for_an_unknown_wamid_changes_nothing(monkeypatch, hook, graph, caplog):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    await accepted_notice(graph)
    before = notices()

    with caplog.at_level(logging.INFO):
        assert (await hook.post(failed_status(meta.wamid())))[0] == 200
        await eventually(refusals_done)
        await asyncio.sleep(0.3)

    assert len(graph.requests) == 1 and notices() == before
    assert "no message here was sent with that id" in caplog.text


async def test_a_failure_for_another_reason_is_only_logged(monkeypatch, hook, graph, caplog):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    wamid = await accepted_notice(graph)
    before = notices()

    with caplog.at_level(logging.INFO):
        status, _ = await hook.post(failed_status(wamid, 131026, "Message undeliverable"))
        await asyncio.sleep(0.5)

    assert status == 200 and len(graph.requests) == 1 and notices() == before
    assert [r["kind"] for r in inbox_rows()] == []
    assert "failed: code=131026" in caplog.text


async def test_without_a_template_a_late_refusal_fails_the_notice_naming_the_setting(
    hook, graph, caplog, capsys
):
    wamid = await accepted_notice(graph)

    with caplog.at_level(logging.INFO):
        assert (await hook.post(failed_status(wamid)))[0] == 200
        await eventually(refusals_done)

    assert len(graph.requests) == 1
    [row] = notices()
    assert row["status"] == "failed" and json.loads(row["message_ids"]) == [wamid]
    assert "code=131047" in row["last_error"]
    assert "set MERCHANT_NOTICE_TEMPLATE" in row["last_error"]
    [given_up] = [r for r in caplog.records if "given up" in r.getMessage()]
    assert given_up.levelno == logging.ERROR and "MERCHANT_NOTICE_TEMPLATE" in given_up.getMessage()

    assert await asyncio.to_thread(inbox_cli.main, []) == 0
    shown = capsys.readouterr().out
    assert f"#{row['id']}" in shown and "set MERCHANT_NOTICE_TEMPLATE" in shown


async def test_a_template_sent_at_once_is_not_sent_again_when_reported_late(
    monkeypatch, hook, graph
):
    monkeypatch.setenv("MERCHANT_NOTICE_TEMPLATE", TEMPLATE)
    graph.close_window(MERCHANT)  # refused at once: the template goes on the same row
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)
    await graph.wait_for_sent(1)
    await eventually(lambda: notices()[0]["status"] == "sent")
    [wamid] = json.loads(notices()[0]["message_ids"])

    assert (await hook.post(failed_status(wamid)))[0] == 200
    await eventually(refusals_done)
    await asyncio.sleep(0.3)

    assert len(graph.sent) == 1 and len(notices()) == 1


def test_a_failed_status_is_typed_and_kept_as_sent():
    payload = failed_status("wamid.HBgMOTE5ODAwMDAwOTk5")
    [status] = WebhookEvent.parse(payload).statuses()
    assert status.window_closed and status.errors[0].title == "Re-engagement message"
    assert Status.from_stored(status.to_stored()) == status
    other = WebhookEvent.parse(failed_status("wamid.X", 131026)).statuses()[0]
    assert not other.window_closed
