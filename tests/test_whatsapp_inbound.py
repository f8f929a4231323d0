"""Each WhatsApp message type, posted to the webhook, reaches Rasa as the right text and
metadata (taps as payloads that skip NLU, a catalog cart as /add_to_cart, ...)."""

from __future__ import annotations

import asyncio

import pytest

from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from sandbox.harness import whatsapp_meta as meta
from sandbox.harness.graph_api import PHONE_NUMBER_ID, TOKEN
from sandbox.harness.whatsapp_redis import redis_state_factory  # noqa: F401 (fixture)


@pytest.fixture
def whatsapp(graph) -> WhatsAppInput:
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url)
    return WhatsAppInput(WhatsAppSettings(meta.APP_SECRET, meta.VERIFY_TOKEN), client,
                         ChannelState.in_memory())


@pytest.fixture
def agent():
    return meta.RecordingAgent()


@pytest.fixture
async def hook(whatsapp, agent):
    async with meta.serve([whatsapp], agent) as webhook:
        yield webhook


async def receive(hook, agent, *messages, **kwargs):
    """Post messages as one event; the UserMessages Rasa got for them."""
    before = len(agent.messages)
    status, _ = await hook.post(meta.event(*messages, **kwargs))
    assert status == 200
    return (await agent.wait_for(before + len(messages)))[before:]


async def test_text_with_full_metadata(hook, agent):
    msg = meta.message("text", {"body": "ek kulhad set bhi daal do"})
    [got] = await receive(hook, agent, msg, names={meta.CUSTOMER: "Priya Sharma"})
    assert got.text == "ek kulhad set bhi daal do"
    assert (got.sender_id, got.message_id, got.input_channel) == (meta.CUSTOMER, msg["id"],
                                                                  "whatsapp")
    assert got.metadata == {"whatsapp": {
        "profile_name": "Priya Sharma", "wa_id": meta.CUSTOMER, "message_id": msg["id"],
        "type": "text", "timestamp": "1732600000"}}


async def test_non_phone_user_ids_are_used_as_they_are(hook, agent):
    [got] = await receive(hook, agent, meta.message("text", {"body": "hi"},
                                                    sender="US.13491208655302741918"))
    assert got.sender_id == "US.13491208655302741918"


@pytest.mark.parametrize("reply_type", ["button_reply", "list_reply"])
async def test_taps_carry_the_rasa_payload(hook, agent, reply_type):
    payload = '/add_to_cart{"product":"ceramic-mug"}'
    [got] = await receive(hook, agent, meta.message("interactive", {
        "type": reply_type, reply_type: {"id": payload, "title": "Ceramic Mug"}}))
    assert got.text == payload
    assert got.metadata["whatsapp"]["type"] == "interactive"


async def test_template_quick_reply_uses_its_payload_or_else_its_text(hook, agent):
    with_payload = meta.message("button", {"text": "Track order", "payload": "/order_status"})
    text_only = meta.message("button", {"text": "Talk to us"})
    got = await receive(hook, agent, with_payload, text_only)
    assert [m.text for m in got] == ["/order_status", "Talk to us"]


async def test_catalog_order_becomes_add_to_cart_at_our_prices(hook, agent):
    [got] = await receive(hook, agent, meta.message("order", {
        "catalog_id": "1234567890", "text": "",
        "product_items": [
            {"product_retailer_id": "masala-chai-250g", "quantity": 2, "item_price": 1.0,
             "currency": "INR"},
            {"product_retailer_id": "ceramic-mug", "quantity": 1, "item_price": 349.5,
             "currency": "INR"}]}))
    assert got.text == "/add_to_cart"
    assert got.metadata["whatsapp_order"] == [{"sku": "masala-chai-250g", "quantity": 2},
                                              {"sku": "ceramic-mug", "quantity": 1}]
    assert "item_price" not in str(got.metadata)


async def test_location_becomes_an_address_the_form_can_take(hook, agent):
    named = meta.message("location", {"latitude": 12.971599, "longitude": 77.594566,
                                      "name": "Asha's Home",
                                      "address": "12 MG Road, Bengaluru 560001"})
    pin_only = meta.message("location", {"latitude": 28.6139, "longitude": 77.209})
    got = await receive(hook, agent, named, pin_only)
    assert got[0].text == "Asha's Home, 12 MG Road, Bengaluru 560001 (📍 12.971599,77.594566)"
    assert got[0].metadata["whatsapp_location"]["latitude"] == 12.971599
    assert got[1].text == "📍 28.6139,77.209"


@pytest.mark.parametrize("kind, content", [
    ("image", {"id": "1", "mime_type": "image/jpeg", "caption": "this one?"}),
    ("audio", {"id": "2", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
    ("video", {"id": "3", "mime_type": "video/mp4"}),
    ("document", {"id": "4", "mime_type": "application/pdf", "filename": "list.pdf"}),
    ("sticker", {"id": "5", "mime_type": "image/webp", "animated": False}),
    ("unsupported", None),
    ("contacts", [{"name": {"formatted_name": "Ravi"}}]),
    ("interactive", {"type": "nfm_reply", "nfm_reply": {"name": "flow",
                                                          "response_json": "{}"}}),
])
async def test_what_the_bot_cannot_read_gets_the_unsupported_intent(hook, agent, kind, content):
    [got] = await receive(hook, agent, meta.message(kind, content))
    assert got.text == "/unsupported_message"
    assert got.metadata["whatsapp"]["type"] == kind


async def test_reactions_and_system_messages_are_not_answered(hook, agent, graph):
    reaction = meta.message("reaction", {"message_id": "wamid.ours", "emoji": "❤️"})
    system = meta.message("system", {"body": "User changed number", "type": "user_changed_number"})
    status, _ = await hook.post(meta.event(reaction, system))
    assert status == 200
    await asyncio.sleep(0.2)
    assert agent.messages == [] and graph.requests == []


async def test_a_number_answers_the_numbered_options_once(hook, agent, whatsapp, graph):
    teas = [{"title": f"Tea {n}", "payload": f'/add_to_cart{{"product":"tea-{n}"}}'}
            for n in range(1, 13)]
    await whatsapp.get_output_channel().send_text_with_buttons(meta.CUSTOMER, "Teas:", teas)
    assert "12. Tea 12" in graph.sent[0]["text"]["body"]

    [choice] = await receive(hook, agent, meta.message("text", {"body": " 3. "}))
    assert choice.text == '/add_to_cart{"product":"tea-3"}'
    [again] = await receive(hook, agent, meta.message("text", {"body": "3"}))
    assert again.text == "3"  # the options held for one answer only


async def test_numbers_out_of_range_or_from_others_stay_text(hook, agent, whatsapp):
    options = [{"title": f"T{n}", "payload": f"/p{n}"} for n in range(11)]
    await whatsapp.get_output_channel().send_text_with_buttons(meta.CUSTOMER, "Pick", options)
    other = await receive(hook, agent, meta.message("text", {"body": "2"}, sender="919999999999"))
    assert other[0].text == "2"
    [out_of_range] = await receive(hook, agent, meta.message("text", {"body": "12"}))
    assert out_of_range.text == "12"


async def test_a_tap_on_a_shortened_id_gives_back_the_full_payload(hook, agent, whatsapp, graph):
    payload = '/add_to_cart{"product":"' + "assam-gold-" * 30 + '"}'
    await whatsapp.get_output_channel().send_text_with_buttons(
        meta.CUSTOMER, "Add it?", [{"title": "Add to cart", "payload": payload}])
    reply = graph.sent[0]["interactive"]["action"]["buttons"][0]["reply"]
    assert len(reply["id"]) <= 256
    [got] = await receive(hook, agent, meta.message("interactive", {
        "type": "button_reply", "button_reply": reply}))
    assert got.text == payload


async def test_an_unknown_short_id_falls_back_to_the_title(hook, agent):
    [got] = await receive(hook, agent, meta.message("interactive", {
        "type": "button_reply", "button_reply": {"id": "~p:ffffffffffffffffffffffff",
                                                 "title": "Add to cart"}}))
    assert got.text == "Add to cart"


async def test_tokens_and_options_are_shared_through_redis(graph, redis_state_factory):  # noqa: F811
    """Sent by one Rasa process, answered through another."""
    def process() -> WhatsAppInput:
        client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url)
        return WhatsAppInput(WhatsAppSettings(meta.APP_SECRET, meta.VERIFY_TOKEN), client,
                             redis_state_factory())

    sender, receiver = process(), process()
    long_payload = "/checkout" + "{" + '"note":"' + "x" * 300 + '"}'
    out = sender.get_output_channel()
    await out.send_text_with_buttons(meta.CUSTOMER, "Go?", [{"title": "Go",
                                                             "payload": long_payload}])
    reply = graph.sent[0]["interactive"]["action"]["buttons"][0]["reply"]
    await out.send_text_with_buttons(meta.CUSTOMER, "Pick", [
        {"title": f"T{n}", "payload": f"/p{n}"} for n in range(1, 12)])

    agent = meta.RecordingAgent()
    async with meta.serve([receiver], agent) as hook:
        got = await receive(hook, agent, meta.message("text", {"body": "11"}))
        got += await receive(hook, agent, meta.message("interactive", {
            "type": "button_reply", "button_reply": reply}))
    assert [m.text for m in got] == ["/p11", long_payload]
