"""The Graph API client against a local fake of the endpoint (real HTTP on loopback)."""

from __future__ import annotations

import logging

import pytest

from channels.whatsapp.client import GraphApiError, WhatsAppClient
from sandbox.harness.graph_api import PHONE_NUMBER_ID, TOKEN, FakeGraphApi

CUSTOMER = "919876543210"


@pytest.fixture
async def client(graph):
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url,
                            backoff_base=0.01, max_attempts=4)
    yield client
    await client.close()


async def test_send_text_posts_the_documented_body_with_the_bearer_token(graph, client):
    wamid = await client.send_text(CUSTOMER, "Namaste!")
    assert wamid.startswith("wamid.")
    [request] = graph.requests
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": CUSTOMER, "type": "text",
                            "text": {"body": "Namaste!", "preview_url": False}}


async def test_interactive_image_and_custom_sends(graph, client):
    buttons = {"type": "button", "body": {"text": "Next?"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "/checkout", "title": "Checkout"}}]}}
    await client.send_interactive(CUSTOMER, buttons)
    await client.send_image(CUSTOMER, "https://example.com/mug.jpg", "Ceramic Mug")
    await client.send(CUSTOMER, {"type": "template", "template": {
        "name": "order_update", "language": {"code": "en"}}})
    kinds = [(r.status, r.body["type"]) for r in graph.requests]
    assert kinds == [(200, "interactive"), (200, "image"), (200, "template")]
    assert graph.requests[1].body["image"] == {"link": "https://example.com/mug.jpg",
                                               "caption": "Ceramic Mug"}


async def test_mark_as_read_shows_the_typing_indicator(graph, client):
    await client.mark_as_read("wamid.abc")
    assert graph.read_receipts == [{"messaging_product": "whatsapp", "status": "read",
                                    "message_id": "wamid.abc",
                                    "typing_indicator": {"type": "text"}}]


async def test_mark_as_read_is_not_retried(graph, client):
    graph.fail_next(1, 500, None)
    with pytest.raises(GraphApiError):
        await client.mark_as_read("wamid.abc")
    assert len(graph.requests) == 1


@pytest.mark.parametrize("status, code", [
    (429, 130429),  # throughput
    (400, 131056),  # pair rate limit: Meta answers it with a 400
    (400, 80007),   # account rate limit
    (400, 4),       # app call limit
    (500, 2),       # temporary service error
    (500, None),    # a 5xx without a Graph error body
    (503, None),
])
async def test_throttling_and_server_errors_are_retried(graph, client, status, code):
    graph.fail_next(2, status, code)
    assert await client.send_text(CUSTOMER, "hi")
    assert [r.status for r in graph.requests] == [status, status, 200]


async def test_retries_are_bounded_and_the_last_error_is_raised(graph, client, caplog):
    graph.fail_next(10, 429, 130429, "(#130429) Rate limit hit")
    with pytest.raises(GraphApiError) as error, caplog.at_level(logging.WARNING):
        await client.send_text(CUSTOMER, "hi")
    assert len(graph.requests) == 4
    assert error.value.code == 130429 and error.value.status == 429
    assert error.value.fbtrace_id.startswith("A")
    assert error.value.transient
    assert "failed for good after 4 attempt(s)" in caplog.text
    assert error.value.fbtrace_id in caplog.text


async def test_validation_errors_are_not_retried_and_logged_without_the_token(
        graph, client, caplog):
    too_long = {"type": "button", "body": {"text": "Next?"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "/a", "title": "A title over twenty chars"}}]}}
    with pytest.raises(GraphApiError) as error, caplog.at_level(logging.DEBUG):
        await client.send_interactive(CUSTOMER, too_long)
    assert len(graph.requests) == 1
    assert (error.value.status, error.value.code) == (400, 131009)
    assert "button title is longer than 20" in error.value.details
    assert "code=131009" in caplog.text and error.value.fbtrace_id in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("status, code", [(400, 131048), (400, 131047), (400, 100)])
async def test_spam_limit_window_and_parameter_errors_are_not_retried(
        graph, client, status, code):
    graph.fail_next(3, status, code)
    with pytest.raises(GraphApiError) as error:
        await client.send_text(CUSTOMER, "hi")
    assert error.value.code == code and not error.value.transient
    assert len(graph.requests) == 1


async def test_a_wrong_token_is_refused_once(graph):
    client = WhatsAppClient("wrong-token", PHONE_NUMBER_ID, base_url=graph.base_url)
    try:
        with pytest.raises(GraphApiError) as error:
            await client.send_text(CUSTOMER, "hi")
    finally:
        await client.close()
    assert (error.value.status, error.value.code) == (401, 190)
    assert len(graph.requests) == 1


async def test_timeouts_are_retried_then_reported(caplog):
    slow = await FakeGraphApi(latency=1.0).start()
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=slow.base_url, timeout=0.1,
                            max_attempts=2, backoff_base=0.01)
    try:
        with pytest.raises(GraphApiError) as error, caplog.at_level(logging.WARNING):
            await client.send_text(CUSTOMER, "hi")
    finally:
        await client.close()
        await slow.stop()
    assert error.value.transient and "TimeoutError" in error.value.message
    assert "attempt 1/2 failed" in caplog.text


async def test_connection_refused_is_retried_then_reported(graph):
    url = graph.base_url
    await graph.stop()
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=url, max_attempts=3,
                            backoff_base=0.01)
    try:
        with pytest.raises(GraphApiError, match="ClientConnectorError"):
            await client.send_text(CUSTOMER, "hi")
    finally:
        await client.close()


async def test_unconfigured_client_refuses_without_calling_out(graph):
    client = WhatsAppClient(None, PHONE_NUMBER_ID, base_url=graph.base_url)
    assert not client.configured
    with pytest.raises(GraphApiError, match="not configured"):
        await client.send_text(CUSTOMER, "hi")
    assert graph.requests == []


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, backoff_base=0.5, backoff_max=4.0)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        delays = {client._backoff(attempt) for _ in range(50)}
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(delays) > 1  # jittered


async def test_base_url_and_version_come_from_the_environment(graph, monkeypatch):
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", graph.base_url + "/")
    monkeypatch.setenv("WHATSAPP_API_VERSION", "v23.0")
    client = WhatsAppClient.from_env()
    try:
        with pytest.raises(GraphApiError):  # the fake serves v21.0 only
            await client.send_text(CUSTOMER, "hi")
    finally:
        await client.close()
    assert graph.requests[0].path == f"/v23.0/{PHONE_NUMBER_ID}/messages"

