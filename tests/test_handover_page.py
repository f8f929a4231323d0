"""The merchant's inbox page in a real browser (Debian's headless Chromium, Playwright),
against the bot as it runs: the action server, a Rasa server and the front door as
processes, the Graph API stand-in for Meta.

The merchant answers a customer from the WhatsApp Business app (a signed coexistence
echo): the customer is handed over, the bot goes quiet. On the page, at a phone's
width, the merchant finds the customer, reads the conversation, replies (it reaches
the Graph API stand-in once) and hands back (the bot says it is back). Screenshots go
to results/.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import meta_events
from sandbox.harness.live_stack import REPO, LiveStack, live_stack, log_tails
from sandbox.harness.page_checks import CHROMIUM, CHROMIUM_ARGS, TRAP
from sandbox.harness.whatsapp_meta import CUSTOMER, PHONE_NUMBER_ID, WABA_ID, sign

MODEL = Path(os.environ.get("CHECKOUT_MODEL", REPO / "models" / "checkout.tar.gz"))
RESULTS = REPO / "results"
TOKEN = "page-test-token-0123456789abcdef"
TURN_TIMEOUT_MS = 60_000
ATTACK = "<img src=x onerror=alert(1)> hello?"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"no Chromium at {CHROMIUM}: `make browser` installs Debian's"),
    pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LiveStack]:
    workdir = tmp_path_factory.mktemp("handover")
    # One conversation store for the Rasa server and the front door, which serves the page.
    with live_stack(workdir, model=MODEL, front_door=True, project_stores=True,
                    TRACKER_STORE_URL=f"sqlite:///{workdir / 'tracker.db'}",
                    MERCHANT_INBOX_TOKEN=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def echo(stack: LiveStack, text: str) -> int:
    """The merchant writes from the WhatsApp Business app: Meta's signed echo."""
    change = {"field": "smb_message_echoes", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
        "message_echoes": [{"from": "15550001111", "to": CUSTOMER, "id": meta_events.wamid(),
                            "timestamp": str(int(time.time())), "type": "text",
                            "text": {"body": text}}],
    }}
    body = json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": WABA_ID, "changes": [change]}]}).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
    return stack.post("/webhooks/whatsapp/webhook", body, headers, server=None)


def words(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_the_merchant_answers_and_hands_back_from_the_inbox_page(stack, browser):
    text = meta_events.message("text", {"body": "hi"}, sender=CUSTOMER)
    assert stack.customer_says(text, server=None) == 200
    stack.sent_after(0, lambda m: m.get("to") == CUSTOMER)

    assert echo(stack, "Namaste! Main Meera, dukaan se. Aapka order dekh rahi hoon.") == 200
    customer_message = meta_events.message("text", {"body": ATTACK}, sender=CUSTOMER)
    assert stack.customer_says(customer_message, server=None) == 200

    context = browser.new_context(viewport={"width": 390, "height": 800})
    context.set_default_timeout(TURN_TIMEOUT_MS)
    context.add_init_script(TRAP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    inbox = f"{stack.public_url}/webhooks/merchant/"

    # A wrong token is refused and asked again; the right one (from a link) opens it.
    page.goto(inbox)
    page.fill("#token", "not-the-token")
    page.press("#token", "Enter")
    sync_api.expect(page.locator("#sign-in-error")).to_contain_text("not right")
    page.goto(f"{inbox}#token={TOKEN}")
    page.wait_for_function("() => !location.hash")  # taken out of the address bar
    waiting = page.locator("#handovers button", has_text=f"+{CUSTOMER}")
    sync_api.expect(waiting).to_contain_text("you answered from WhatsApp")
    waiting.click()

    transcript = page.locator("#transcript")
    try:
        sync_api.expect(transcript.locator("li.customer").last).to_contain_text(ATTACK)
    except AssertionError:
        raise AssertionError(log_tails(stack.logs)) from None
    sync_api.expect(transcript.locator("li.person")).to_contain_text("Main Meera")
    assert page.locator("#transcript img").count() == 0  # the customer's words stay text
    assert page.evaluate("window.__alerts") == []
    # Nothing from the bot to the customer's message while a person has them (a turn's
    # answers are saved with the message: shown together, or not at all).
    last = transcript.locator("li").last
    assert "customer" in (last.get_attribute("class") or "") and ATTACK in last.inner_text()
    before = len(stack.graph.sent)
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "handover-inbox-390.png"), full_page=True)

    page.fill("#reply-text", "Aapka order kal tak pahunch jayega 🙏")
    page.click("#send")
    sent = stack.sent_after(before, lambda m: "kal tak pahunch" in words(m))
    assert [m["to"] for m in sent] == [CUSTOMER] and sent[0]["type"] == "text"
    sync_api.expect(transcript.locator("li.person").last).to_contain_text("kal tak pahunch")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

    page.click("#hand-back")
    back = stack.sent_after(before + 1, lambda m: "I'm back" in words(m))
    assert [m["to"] for m in back] == [CUSTOMER]  # the reply was not sent again
    sync_api.expect(page.locator("#customer-reason")).to_have_text("the bot is answering")
    sync_api.expect(transcript.locator("li.system").last).to_have_text(
        re.compile("bot answering again"), timeout=TURN_TIMEOUT_MS)
    page.screenshot(path=str(RESULTS / "handover-inbox-handed-back-390.png"), full_page=True)
    page.click("#back")  # on a phone the list and the conversation take turns
    sync_api.expect(page.locator("#none-waiting")).to_be_visible(timeout=TURN_TIMEOUT_MS)
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
