"""The webhook routes over real HTTP: the channel mounted like `rasa run` mounts it,
served on a loopback port, replying to a local fake of the Graph API."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from rasa.core.run import create_http_input_channels
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp import channel as whatsapp_channel
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from sandbox.harness import whatsapp_meta as meta
from sandbox.harness.graph_api import PHONE_NUMBER_ID, TOKEN
from sandbox.harness.whatsapp_redis import redis_state_factory  # noqa: F401 (fixture)

SIGNED = WhatsAppSettings(app_secret=meta.APP_SECRET, verify_token=meta.VERIFY_TOKEN)


def channel(graph, settings=SIGNED, state=None, **kwargs) -> WhatsAppInput:
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, backoff_base=0.01)
    return WhatsAppInput(settings, client, state or ChannelState.in_memory(), **kwargs)


@pytest.fixture
def agent():
    return meta.RecordingAgent(reply=True)


@pytest.fixture
async def hook(graph, agent):
    async with meta.serve([channel(graph)], agent) as webhook:
        yield webhook


async def settle(seconds: float = 0.2) -> None:
    """Give background work the chance to do what it should not do."""
    await asyncio.sleep(seconds)


# -- handshake and health ---------------------------------------------------------------


async def test_handshake_returns_the_challenge_as_plain_text(hook):
    status, content_type, body = await hook.get(params={
        "hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN,
        "hub.challenge": "1158201444"})
    assert (status, content_type, body) == (200, "text/plain", "1158201444")


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": meta.VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {},
])
async def test_handshake_refuses_anything_else(hook, params):
    status, _, body = await hook.get(params=params)
    assert status == 403 and "1" not in body


async def test_handshake_without_a_configured_verify_token_is_refused(graph, agent):
    settings = WhatsAppSettings(app_secret=meta.APP_SECRET, verify_token=None)
    async with meta.serve([channel(graph, settings)], agent) as hook:
        status, _, _ = await hook.get(params={"hub.mode": "subscribe", "hub.verify_token": "",
                                              "hub.challenge": "1"})
    assert status == 403


async def test_handshake_without_challenge_is_a_bad_request(hook):
    status, _, _ = await hook.get(params={"hub.mode": "subscribe",
                                          "hub.verify_token": meta.VERIFY_TOKEN})
    assert status == 400


async def test_health_reports_configuration_without_secrets(hook):
    status, content_type, body = await hook.get("/webhooks/whatsapp/")
    assert (status, content_type) == (200, "application/json")
    queue = {"pending": 0, "oldest_pending_seconds": 0.0, "in_flight": 0}
    assert json.loads(body) == {"status": "ok", "signature_check": "on",
                                "sending_configured": True, "reply_state": "memory",
                                "inbox": {**queue, "parked": 0},
                                "outbox": {**queue, "failed": 0}, "consuming": True,
                                "action_server_up": True}
    assert meta.APP_SECRET not in body and TOKEN not in body


# -- signatures ---------------------------------------------------------------------------


async def test_signed_message_reaches_rasa_and_the_answer_goes_out(hook, agent, graph):
    status, body = await hook.post(meta.event(meta.message("text", {"body": "hi"})))
    assert (status, body) == (200, {"status": "accepted", "messages": 1})
    [message] = await agent.wait_for(1)
    assert message.text == "hi" and message.sender_id == meta.CUSTOMER
    assert message.input_channel == "whatsapp"
    [reply] = await graph.wait_for_sent(1)
    assert reply["to"] == meta.CUSTOMER and reply["text"]["body"] == "echo: hi"


@pytest.mark.parametrize("how", ["wrong secret", "missing", "not hex", "no prefix", "empty"])
async def test_bad_signatures_are_refused_and_nothing_reaches_rasa(hook, agent, graph, how):
    payload = meta.event(meta.message("text", {"body": "hi"}))
    body = json.dumps(payload).encode()
    signature = {
        "wrong secret": meta.sign(body, "not-the-secret"),
        "missing": None,
        "not hex": "sha256=" + "zz" * 32,
        "no prefix": meta.sign(body).removeprefix("sha256="),
        "empty": "",
    }[how]
    status, answer = await hook.post(payload, raw=body, secret=None, signature=signature)
    assert status == 403 and "X-Hub-Signature-256" in answer["error"]
    await settle()
    assert agent.messages == [] and graph.requests == []


async def test_a_body_modified_after_signing_is_refused(hook, agent):
    original = json.dumps(meta.event(meta.message("text", {"body": "1 mug"}))).encode()
    tampered = original.replace(b"1 mug", b"9 mug")
    status, _ = await hook.post(None, raw=tampered, signature=meta.sign(original))
    assert status == 403
    await settle()
    assert agent.messages == []


async def test_signature_covers_the_raw_bytes_not_reserialised_json(hook, agent):
    # Meta's JSON escapes non-ASCII and uses its own spacing: hash exactly what came.
    raw = (b'{"object": "whatsapp_business_account",  "entry": [{"id": "1", "changes": '
           b'[{"field": "messages", "value": {"messages": [{"from": "919876543210", '
           b'"id": "wamid.raw", "timestamp": "1", "type": "text", "text": '
           b'{"body": "chai \\u2615"}}]}}]}]}')
    status, _ = await hook.post(None, raw=raw)
    assert status == 200
    [message] = await agent.wait_for(1)
    assert message.text == "chai ☕"


async def test_without_an_app_secret_events_are_refused(graph, agent, caplog):
    with caplog.at_level(logging.ERROR):
        unsigned = channel(graph, WhatsAppSettings(app_secret=None, verify_token="t"))
    assert "WHATSAPP_APP_SECRET is not set" in caplog.text
    async with meta.serve([unsigned], agent) as hook:
        status, answer = await hook.post(meta.event(meta.message("text", {"body": "hi"})))
        _, _, health = await hook.get("/webhooks/whatsapp/")
    assert status == 503 and "WHATSAPP_APP_SECRET" in answer["error"]
    assert json.loads(health)["signature_check"] == "refusing events"
    assert agent.messages == []


async def test_unsigned_events_only_with_the_explicit_opt_out(graph, agent, caplog):
    settings = WhatsAppSettings(app_secret=None, verify_token="t", allow_unsigned=True)
    with caplog.at_level(logging.WARNING):
        local = channel(graph, settings)
    assert "WITHOUT a signature check" in caplog.text
    async with meta.serve([local], agent) as hook:
        status, _ = await hook.post(meta.event(meta.message("text", {"body": "hi"})),
                                    secret=None)
        assert status == 200
        await agent.wait_for(1)


async def test_the_opt_out_does_not_disable_a_configured_secret(graph, agent):
    settings = WhatsAppSettings(app_secret=meta.APP_SECRET, verify_token="t",
                                allow_unsigned=True)
    async with meta.serve([channel(graph, settings)], agent) as hook:
        status, _ = await hook.post(meta.event(meta.message("text", {"body": "hi"})),
                                    secret=None)
    assert status == 403


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "s")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "v")
    monkeypatch.delenv("WHATSAPP_ALLOW_UNSIGNED", raising=False)
    assert WhatsAppSettings.from_env() == WhatsAppSettings("s", "v", False)
    monkeypatch.setenv("WHATSAPP_ALLOW_UNSIGNED", "1")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "")
    assert WhatsAppSettings.from_env() == WhatsAppSettings(None, "v", True)
    assert "secret" not in repr(WhatsAppSettings("secret", "also-secret"))


# -- malformed requests -------------------------------------------------------------------


@pytest.mark.parametrize("raw, reason", [
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe\x00garbage", "invalid JSON"),
    (b"", "invalid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
    (b'{"object": "page", "entry": []}', "$.object: expected 'whatsapp_business_account'"),
    (b'{"object": "whatsapp_business_account"}', "$.entry: missing"),
    (b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": '
     b'"messages", "value": {"messages": [{"id": "wamid.x", "type": "text"}]}}]}]}',
     "messages[0].from: missing"),
])
async def test_malformed_events_get_a_clear_400(hook, agent, graph, raw, reason):
    status, answer = await hook.post(None, raw=raw)
    assert status == 400 and reason in answer["error"]
    await settle(0.05)
    assert agent.messages == [] and graph.requests == []


async def test_one_malformed_message_refuses_the_whole_post(hook, agent):
    payload = meta.event(meta.message("text", {"body": "hi"}),
                         meta.message("text", {"body": "there"}))
    del payload["entry"][0]["changes"][0]["value"]["messages"][1]["from"]
    status, _ = await hook.post(payload)
    assert status == 400
    await settle()
    assert agent.messages == []


async def test_huge_bodies_are_refused_and_the_server_keeps_serving(hook, agent):
    huge = b'{"object": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, answer = await hook.post(None, raw=huge)
    assert status == 413 and "larger than" in answer["error"]

    async def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(40):
            yield b"x" * 65536

    async with hook.session.post(hook.url, data=chunks(),
                                 headers={"X-Hub-Signature-256": "sha256=00"}) as resp:
        assert resp.status == 413

    status, _ = await hook.post(meta.event(meta.message("text", {"body": "still here?"})))
    assert status == 200
    [message] = await agent.wait_for(1)
    assert message.text == "still here?"


async def test_a_body_just_under_the_limit_is_read(graph, agent):
    async with meta.serve([channel(graph, max_body_bytes=4096)], agent) as hook:
        payload = meta.event(meta.message("text", {"body": "x" * 3000}))
        assert (await hook.post(payload))[0] == 200
        payload = meta.event(meta.message("text", {"body": "x" * 5000}))
        assert (await hook.post(payload))[0] == 413


# -- fast acknowledgement, ordering, batching ----------------------------------------------


async def test_acknowledged_before_the_bot_has_answered(graph):
    slow = meta.RecordingAgent(reply=True, delay=1.0)
    async with meta.serve([channel(graph)], slow) as hook:
        started = time.monotonic()
        status, _ = await hook.post(meta.event(meta.message("text", {"body": "hi"})))
        acknowledged = time.monotonic() - started
        assert status == 200 and acknowledged < 0.5
        assert slow.messages == []
        await slow.wait_for(1)


async def test_every_entry_change_and_message_of_a_post_is_handled(hook, agent, graph):
    senders = [f"9190000000{i:02d}" for i in range(6)]
    values = [meta.value([meta.message("text", {"body": f"{s}-{n}"}, sender=s)
                          for n in range(2)]) for s in senders]
    status, body = await hook.post(meta.envelope(*values, entries=3))
    assert (status, body["messages"]) == (200, 12)
    messages = await agent.wait_for(12)
    assert sorted(m.text for m in messages) == sorted(f"{s}-{n}" for s in senders
                                                      for n in range(2))
    for sender in senders:  # in order per customer
        assert [m.text for m in messages if m.sender_id == sender] == [f"{sender}-0",
                                                                       f"{sender}-1"]
    await graph.wait_for_sent(12)


async def test_one_customer_in_order_different_customers_concurrently(graph):
    slow = meta.RecordingAgent(delay=0.3)
    async with meta.serve([channel(graph)], slow) as hook:
        started = time.monotonic()
        for n in range(4):  # one customer, four POSTs
            await hook.post(meta.event(meta.message("text", {"body": str(n)})))
        for n in range(4):  # four other customers
            await hook.post(meta.event(meta.message("text", {"body": "x"},
                                                    sender=f"91800000000{n}")))
        messages = await slow.wait_for(8)
        elapsed = time.monotonic() - started
    assert [m.text for m in messages if m.sender_id == meta.CUSTOMER] == ["0", "1", "2", "3"]
    # Serially this would take 8 × 0.3 s; the other customers did not wait in line.
    assert elapsed < 4 * 0.3 + 0.6


async def test_while_the_model_loads_messages_are_kept_and_answered_once_it_is_ready(graph):
    loading = meta.RecordingAgent(ready=False, reply=True)
    async with meta.serve([channel(graph)], loading) as hook:
        status, body = await hook.post(meta.event(meta.message("text", {"body": "hi"})))
        assert (status, body) == (200, {"status": "accepted", "messages": 1})
        await settle(0.3)
        assert loading.messages == []  # Rasa would drop it: the consumer waits instead
        _, _, health = await hook.get("/webhooks/whatsapp/")
        assert json.loads(health)["inbox"]["pending"] == 1
        loading.ready = True
        [got] = await loading.wait_for(1)
        [reply] = await graph.wait_for_sent(1)
    assert got.text == "hi" and reply["text"]["body"] == "echo: hi"


async def test_a_failing_turn_does_not_stop_the_customers_queue(graph, caplog):
    class Flaky(meta.RecordingAgent):
        async def handle_message(self, message):
            if message.text == "boom":
                raise RuntimeError("action server down")
            await super().handle_message(message)

    flaky = Flaky()
    async with meta.serve([channel(graph)], flaky) as hook:
        await hook.post(meta.event(meta.message("text", {"body": "boom"}),
                                   meta.message("text", {"body": "after"})))
        [got] = await flaky.wait_for(1)
    assert got.text == "after"
    assert f"WhatsApp message from {meta.CUSTOMER} could not be handled" in caplog.text


async def test_a_turn_saved_before_a_crash_is_answered_from_the_conversation_once(graph):
    class SavesThenDies(meta.RecordingAgent):
        """Saves the turn (the message and the bot's replies) as Rasa does, then fails
        before the replies reach the outbox: a process killed at that moment."""

        def __init__(self) -> None:
            super().__init__()
            self.tracker_store = InMemoryTrackerStore(Domain.empty())

        async def handle_message(self, message):
            await super().handle_message(message)
            tracker = DialogueStateTracker(message.sender_id, slots=[])
            tracker.update(UserUttered(message.text, message_id=message.message_id))
            tracker.update(BotUttered("Masala chai is in your cart", {"buttons": [
                {"title": "Checkout", "payload": "/checkout"}]}))
            tracker.update(BotUttered("Anything else?"))
            await self.tracker_store.save(tracker)
            raise RuntimeError("killed after the turn was saved")

    dies = SavesThenDies()
    async with meta.serve([channel(graph)], dies) as hook:
        await hook.post(meta.event(meta.message("text", {"body": "ek masala chai"})))
        sent = await graph.wait_for_sent(2)
        await settle(0.5)  # the retry's turn, had it run again, would have failed again
    assert [m.text for m in dies.messages] == ["ek masala chai"]  # not run a second time
    assert [message["type"] for message in graph.sent] == ["interactive", "text"]
    assert sent[0]["interactive"]["body"]["text"] == "Masala chai is in your cart"
    assert sent[1]["text"]["body"] == "Anything else?"


async def test_a_slow_turns_first_reply_goes_out_while_it_runs(graph, monkeypatch):
    monkeypatch.setattr(whatsapp_channel, "EARLY_REPLIES_AFTER_SECONDS", 0.2)

    class WaitsForRazorpay(meta.RecordingAgent):
        async def handle_message(self, message):
            await super().handle_message(message)
            out = message.output_channel
            await out.send_text_message(message.sender_id, "Order placed")
            # The link takes Razorpay seconds: the customer has the first reply meanwhile.
            await graph.wait_for_sent(1, timeout=3.0)
            await out.send_text_message(message.sender_id, "Pay here")

    slow = WaitsForRazorpay()
    async with meta.serve([channel(graph)], slow) as hook:
        await hook.post(meta.event(meta.message("text", {"body": "confirm"})))
        await graph.wait_for_sent(2)
        await settle(0.5)
    assert [sent["text"]["body"] for sent in graph.sent] == ["Order placed", "Pay here"]
    assert len(slow.messages) == 1


async def test_pending_messages_are_finished_at_shutdown(graph):
    slow = meta.RecordingAgent(delay=0.3)
    async with meta.serve([channel(graph)], slow) as hook:
        await hook.post(meta.event(meta.message("text", {"body": "last words"})))
    assert [m.text for m in slow.messages] == ["last words"]


# -- read receipts, statuses --------------------------------------------------------------


async def test_marked_read_with_typing_indicator_before_rasa_answers(hook, agent, graph):
    msg = meta.message("text", {"body": "hi"})
    await hook.post(meta.event(msg))
    await graph.wait_for_sent(1)
    assert [r.body.get("status") or r.body["type"] for r in graph.requests] == ["read", "text"]
    assert graph.requests[0].body["message_id"] == msg["id"]
    assert graph.requests[0].body["typing_indicator"] == {"type": "text"}


async def test_failing_to_mark_read_does_not_stop_the_answer(hook, agent, graph):
    graph.fail_next(1, 500, None)  # the read receipt
    await hook.post(meta.event(meta.message("text", {"body": "hi"})))
    await agent.wait_for(1)
    [reply] = await graph.wait_for_sent(1)
    assert reply["text"]["body"] == "echo: hi"


async def test_statuses_are_logged_never_answered(hook, agent, graph, caplog):
    failed = meta.status("failed", errors=[{
        "code": 131047, "title": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours "
                                  "have passed since the customer last replied"}}])
    payload = meta.envelope(meta.value(statuses=[meta.status("sent"), meta.status("delivered"),
                                                 meta.status("read"), failed]))
    with caplog.at_level(logging.DEBUG):
        status, body = await hook.post(payload)
        await settle()
    assert (status, body["messages"]) == (200, 0)
    assert agent.messages == [] and graph.requests == []
    assert "failed: code=131047" in caplog.text and failed["id"] in caplog.text


# -- de-duplication -----------------------------------------------------------------------


async def test_the_same_message_posted_20_times_at_once_is_handled_once(hook, agent, graph):
    payload = meta.event(meta.message("text", {"body": "pay now"}))
    answers = await asyncio.gather(*(hook.post(payload) for _ in range(20)))
    assert {status for status, _ in answers} == {200}
    await agent.wait_for(1)
    await settle(0.3)
    assert len(agent.messages) == 1
    assert len(graph.sent) == 1 and len(graph.read_receipts) == 1


async def test_redelivery_inside_a_batch_is_handled_once(hook, agent):
    msg = meta.message("text", {"body": "hi"})
    await hook.post(meta.event(msg, msg))
    await hook.post(meta.envelope(meta.value([msg]), meta.value([msg]), entries=2))
    await agent.wait_for(1)
    await settle()
    assert len(agent.messages) == 1


async def test_dedupe_is_shared_across_servers_through_the_inbox(
    graph, redis_state_factory  # noqa: F811
):
    """Two servers (as two Rasa processes would be) share the inbox's database and the
    reply state in Redis: one answer in all."""
    agent_a, agent_b = meta.RecordingAgent(reply=True), meta.RecordingAgent(reply=True)
    async with meta.serve([channel(graph, state=redis_state_factory())], agent_a) as a, \
            meta.serve([channel(graph, state=redis_state_factory())], agent_b) as b:
        _, _, health = await a.get("/webhooks/whatsapp/")
        assert json.loads(health)["reply_state"] == "redis"
        payload = meta.event(meta.message("text", {"body": "pay now"}))
        await asyncio.gather(*(server.post(payload) for server in (a, b) for _ in range(10)))
        await graph.wait_for_sent(1)
        await settle(0.3)
    assert len(agent_a.messages) + len(agent_b.messages) == 1
    assert len(graph.sent) == 1


# -- registration through credentials.yml, as `rasa run --credentials` does -----------------


async def test_credentials_yml_mounts_the_channel_from_the_environment(graph, monkeypatch):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", meta.APP_SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", meta.VERIFY_TOKEN)
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", graph.base_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    [loaded] = [c for c in create_http_input_channels(None, "credentials.yml")
                if isinstance(c, WhatsAppInput)]
    assert loaded.name() == "whatsapp"
    agent = meta.RecordingAgent(reply=True)
    async with meta.serve([loaded], agent) as hook:
        status, _, challenge = await hook.get(params={
            "hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN,
            "hub.challenge": "42"})
        assert (status, challenge) == (200, "42")
        await hook.post(meta.event(meta.message("text", {"body": "hi"})))
        [reply] = await graph.wait_for_sent(1)
    assert reply["text"]["body"] == "echo: hi"
