"""The sandbox's chat page in Debian's headless Chromium, against a stand-in bot (no
model needed): what a customer or the bot writes never becomes markup or script, the
page holds up on a 390x844 phone, the customer list and the request log behave, and
messages typed while the bot starts wait and go out once it is ready.

The sandbox server runs in this process (its loop in a background thread); the bot's
messages are put in the sandbox's journal as the Graph API stand-in records them. The
real bot's side (the address echoed in its summary) is in test_sandbox_browser.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox.app import CUSTOMERS, JOURNAL, build_app
from sandbox.exchange import Exchange
from sandbox.harness.live_stack import REPO, LoopThread
from sandbox.harness.page_checks import (
    ATTACK_IMG,
    ATTACK_URL,
    ATTACKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TRAP,
    assert_no_script_ran,
    hover_everything,
)
from sandbox.harness.sandbox_bot import RecordingBot, free_port, serve, settings

RESULTS = REPO / "results"
PHONE = "919800000001"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: `make browser` installs Debian's"
)

@dataclass
class Sandbox:
    """The sandbox app on a free port, and a stand-in bot that can be started later."""

    loop: LoopThread
    url: str
    app: Any
    bot: RecordingBot
    bot_port: int
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _bot_stack: contextlib.AsyncExitStack | None = None

    def start_bot(self) -> None:
        async def start() -> contextlib.AsyncExitStack:
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(serve(self.bot.app(), port=self.bot_port))
            return stack

        self._bot_stack = self.loop.run(start())

    def stop_bot(self) -> None:
        if self._bot_stack is not None:
            self.loop.run(self._bot_stack.aclose())
            self._bot_stack = None

    def bot_says(self, phone: str, message: dict[str, Any]) -> None:
        """A message the bot sent through the Graph API, as the stand-in records it."""
        body = {"messaging_product": "whatsapp", "to": phone, **message}
        exchange = Exchange("graph", "POST", "/v21.0/100000000000002/messages", 200, body,
                            {"messages": [{"id": f"wamid.OUT{time.monotonic_ns()}"}]})

        async def record() -> None:
            self.app[JOURNAL].record_exchange(exchange)

        self.loop.run(record())


@contextlib.contextmanager
def sandbox_server(bot_running: bool = True) -> Iterator[Sandbox]:
    loop = LoopThread()
    bot_port = free_port()
    app = build_app(settings(f"http://127.0.0.1:{bot_port}"))
    app[CUSTOMERS].retry_seconds = 0.3

    async def start(stack: contextlib.AsyncExitStack) -> str:
        return await stack.enter_async_context(serve(app))

    stack = contextlib.AsyncExitStack()
    url = loop.run(start(stack))
    running = Sandbox(loop, url, app, RecordingBot(consuming=True), bot_port, stack)
    if bot_running:
        running.start_bot()
    try:
        yield running
    finally:
        running.stop_bot()
        loop.run(stack.aclose())
        loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def open_page(browser: Any, url: str, **options: Any) -> Iterator[Any]:
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
    context.set_default_timeout(15_000)
    context.add_init_script(TRAP)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page = context.new_page()
    page.goto(url)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def type_message(page: Any, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def screenshot(page: Any, name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    page.screenshot(path=str(path))
    return path


# -- nothing a customer or the bot writes runs as script ----------------------------------


def test_attack_strings_as_message_name_and_bot_echo_stay_text(browser):
    with sandbox_server() as sandbox, open_page(browser, sandbox.url) as page:
        sync_api.expect(page.locator("#chat-status")).to_have_text("online")
        page.fill("#name", ATTACK_URL)
        page.dispatch_event("#name", "change")
        for attack in ATTACKS:
            type_message(page, attack)
        sync_api.expect(page.locator(".bubble.out")).to_have_count(len(ATTACKS))
        # The bot echoes them, as its order summary echoes a delivery address, in every
        # kind of message the page draws.
        for attack in ATTACKS:
            sandbox.bot_says(PHONE, {"type": "text", "text": {
                "body": f"*Deliver to:* {attack}\n_Name:_ {attack} ~{attack}~ ```{attack}```"}})
        sandbox.bot_says(PHONE, {"type": "interactive", "interactive": {
            "type": "button", "header": {"type": "text", "text": ATTACK_IMG},
            "body": {"text": ATTACK_URL}, "footer": {"text": ATTACK_IMG},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "/x", "title": ATTACK_IMG}}]}}})
        sandbox.bot_says(PHONE, {"type": "interactive", "interactive": {
            "type": "cta_url", "body": {"text": ATTACK_IMG},
            "action": {"name": "cta_url", "parameters": {
                "display_text": ATTACK_URL, "url": "javascript:alert(document.domain)"}}}})
        sandbox.bot_says(PHONE, {"type": "image", "image": {
            "link": "javascript:alert(6)", "caption": ATTACK_URL}})
        sandbox.bot_says(PHONE, {"type": "interactive", "interactive": {
            "type": "list", "body": {"text": ATTACK_URL},
            "action": {"button": ATTACK_IMG, "sections": [{"title": ATTACK_IMG, "rows": [
                {"id": "/y", "title": ATTACK_IMG, "description": ATTACK_URL}]}]}}})
        sync_api.expect(page.locator(".bubble.in")).to_have_count(len(ATTACKS) + 4)

        # What the bot understood: the tracker's text, entities and slots, as text.
        sandbox.bot.trackers[PHONE] = {"sender_id": PHONE, "events": [
            {"event": "user", "text": ATTACK_URL, "message_id": "wamid.X",
             "parse_data": {"intent": {"name": ATTACK_IMG, "confidence": 0.5},
                            "entities": [{"entity": ATTACK_IMG, "value": ATTACK_URL}]}},
            {"event": "action", "name": ATTACK_IMG, "policy": ATTACK_URL, "confidence": 1},
            {"event": "slot", "name": "address", "value": ATTACK_URL},
        ]}
        page.locator(".bubble.out").first.click()
        sync_api.expect(page.locator(".turn .turn-text").first).to_contain_text("evil.example")

        hover_everything(page)
        with contextlib.suppress(sync_api.TimeoutError):
            with page.context.expect_page(timeout=1_000):
                page.locator(".cta-button").click()  # javascript: is never opened
            raise AssertionError("a javascript: URL was opened")
        page.locator(".list-button").click()
        page.locator(".sheet-row").first.hover()
        page.locator("#sheet-close").click()
        page.locator(".tab", has_text="Requests").click()
        for entry in page.locator(".log-entry summary").all()[:6]:
            entry.click()
        page.locator(".tab", has_text="What the bot understood").click()
        assert_no_script_ran(page)

        # The text is all there, as text: the link ends where the URL's quote begins.
        shown = page.locator(".bubble.out .text").all_inner_texts()
        assert shown == [attack.strip("*") for attack in ATTACKS]  # *bold* is bold
        first_link = page.locator(".bubble.out").first.locator("a")
        assert first_link.get_attribute("href") == "https://evil.example/"
        assert page.locator(".bubble.out .text img").count() == 0
        assert page.locator(".customers .active .customer-name").inner_text() == ATTACK_URL
        assert page.locator(".bubble.in img.image").get_attribute("src") is None
        screenshot(page, "sandbox-attack-strings.png")

        # The same in a fresh page (from the history, not the live stream).
        page.reload()
        sync_api.expect(page.locator(".bubble.in")).to_have_count(len(ATTACKS) + 4)
        hover_everything(page)
        assert_no_script_ran(page)


def create_link(url: str, name: str, description: str) -> dict[str, Any]:
    """A payment link at the sandbox's Razorpay stand-in, as the bot creates one."""
    s = settings("http://unused")
    auth = base64.b64encode(f"{s.key_id}:{s.key_secret}".encode()).decode()
    body = {"amount": 79900, "reference_id": "10001", "description": description,
            "customer": {"name": name, "contact": "+919800000001"},
            "expire_by": int(time.time()) + 3600}
    request = urllib.request.Request(
        f"{url}/razorpay/v1/payment_links", data=json.dumps(body).encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_checkout_page_shows_names_and_descriptions_as_text(browser):
    with sandbox_server() as sandbox:
        link = create_link(sandbox.url, ATTACK_URL, ATTACK_IMG)
        with open_page(browser, f"{sandbox.url}/pay/{link['id']}") as page:
            sync_api.expect(page.locator("#amount")).to_have_text("₹799")
            sync_api.expect(page.locator("#description")).to_have_text(ATTACK_IMG)
            sync_api.expect(page.locator("#customer")).to_contain_text("evil.example")
            page.locator("#customer").hover()
            assert_no_script_ran(page)
        phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
        with open_page(browser, f"{sandbox.url}/pay/{link['id']}", **phone) as page:
            sync_api.expect(page.locator("#amount")).to_have_text("₹799")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            sync_api.expect(page.get_by_role("button", name="Pay (UPI)")).to_be_in_viewport()
            screenshot(page, "sandbox-phone-checkout.png")


# -- a phone -----------------------------------------------------------------------------

LAYOUT = """() => {
  const width = window.innerWidth;
  const box = (selector) => {
    const node = document.querySelector(selector);
    if (!node) return null;
    const r = node.getBoundingClientRect();
    const shown = r.width > 0 && r.height > 0 && getComputedStyle(node).visibility !== "hidden";
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height,
             visible: shown };
  };
  const all = (selector) => [...document.querySelectorAll(selector)];
  // (A bubble's tail sticks out on purpose: what is in the bubble must not.)
  const overflowing = all(".bubble > *, .turn, .turn *, .chip, .system-note, .sandbox-bar *")
    .filter((n) => n.getBoundingClientRect().width > 0)
    .filter((n) => n.scrollWidth > n.clientWidth + 1 && getComputedStyle(n).overflowX === "visible")
    .map((n) => `${n.className}: ${n.scrollWidth} > ${n.clientWidth}`);
  const outside = all(".bubble, .turn, .sandbox-bar button, .sandbox-bar input")
    .map((n) => [n, n.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0 && (r.right > width + 0.5 || r.left < -0.5))
    .map(([n]) => n)
    .map((n) => n.className || n.id || n.tagName);
  return {
    width, height: window.innerHeight,
    pageWidth: document.documentElement.scrollWidth,
    newCustomer: box("#new-customer"), name: box("#name"), phone: box("#phone"),
    composer: box("#composer"), messages: box("#messages"), designer: box(".designer"),
    switcher: box(".view-switch"), overflowing, outside,
  };
}"""


def test_phone_viewport_layout(browser):
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
             "is_mobile": True, "has_touch": True}
    with sandbox_server() as sandbox, open_page(browser, sandbox.url, **phone) as page:
        sync_api.expect(page.locator("#chat-status")).to_have_text("online")
        long_word = "Supercalifragilistic" * 30
        type_message(page, f"deliver to {long_word}")
        type_message(page, "https://example.com/" + "a" * 400)
        sandbox.bot_says(PHONE, {"type": "text", "text": {"body": f"Deliver to: {long_word}"}})
        sandbox.bot_says(PHONE, {"type": "interactive", "interactive": {
            "type": "button", "body": {"text": long_word},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "/a", "title": "Confirm"}}]}}})
        sync_api.expect(page.locator(".bubble.in")).to_have_count(2)
        sandbox.bot.trackers[PHONE] = {"sender_id": PHONE, "events": [
            {"event": "user", "text": long_word, "message_id": "wamid.L",
             "parse_data": {"intent": {"name": "inform", "confidence": 0.9},
                            "entities": [{"entity": "address", "value": long_word}]}},
            {"event": "slot", "name": "address", "value": long_word},
        ]}
        layout = page.evaluate(LAYOUT)
        shot = screenshot(page, "sandbox-phone-chat.png")
        assert shot.stat().st_size > 0
        assert layout["pageWidth"] <= layout["width"], layout  # no sideways scrolling
        for control in ("newCustomer", "name", "phone"):
            box = layout[control]
            assert box["visible"] and box["left"] >= 0 and box["right"] <= layout["width"], (
                control, layout)
        assert layout["composer"]["bottom"] <= layout["height"] + 0.5, layout
        assert layout["messages"]["height"] > 300, layout  # the chat keeps most of the screen
        assert layout["overflowing"] == [] and layout["outside"] == [], layout
        assert layout["switcher"]["visible"], layout
        assert not layout["designer"]["visible"], layout  # one view at a time

        # The designer panel is a tab away, with the whole height.
        page.locator(".view-tab", has_text="Designer panel").click()
        sync_api.expect(page.locator(".turn")).to_have_count(1)
        layout = page.evaluate(LAYOUT)
        screenshot(page, "sandbox-phone-designer.png")
        assert layout["designer"]["visible"] and layout["designer"]["height"] > 500, layout
        assert layout["pageWidth"] <= layout["width"], layout
        assert layout["overflowing"] == [] and layout["outside"] == [], layout
        page.locator(".tab", has_text="Requests").click()
        sync_api.expect(page.locator(".log-entry").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # Back to the chat; tapping one's own message opens what the bot understood of it.
        page.locator(".view-tab", has_text="Chat").click()
        page.locator(".bubble.out").first.click()
        sync_api.expect(page.locator(".designer")).to_be_visible()


# -- customers, requests, limits ---------------------------------------------------------


def chips(page: Any) -> list[str]:
    return page.locator(".customers .customer-name").all_inner_texts()


def test_customers_survive_a_reload_with_their_names_and_new_ones_get_new_names(browser):
    with sandbox_server() as sandbox, open_page(browser, sandbox.url) as page:
        sync_api.expect(page.locator(".customers .active .customer-name")).to_have_text("Asha Rao")
        type_message(page, "hi")
        page.locator("#new-customer").click()
        sync_api.expect(page.locator(".customers .customer")).to_have_count(2)
        second = page.locator("#name").input_value()
        assert second and second != "Asha Rao"
        second_phone = page.locator("#phone").input_value()
        assert second_phone != PHONE
        type_message(page, "hello from the second")
        page.locator("#new-customer").click()
        sync_api.expect(page.locator(".customers .customer")).to_have_count(3)
        third = page.locator("#name").input_value()
        assert third not in ("Asha Rao", second)
        assert chips(page) == ["Asha Rao", second, third]
        assert page.locator(".customers .active .customer-name").inner_text() == third

        page.reload()
        sync_api.expect(page.locator(".customers .customer")).to_have_count(3)
        assert chips(page) == ["Asha Rao", second, third]
        sync_api.expect(page.locator(".customers .active .customer-phone")).to_have_text(
            f"+{page.locator('#phone').input_value()}")
        # A chip brings back that customer's name and chat.
        page.locator(".customers .customer", has_text=second).click()
        sync_api.expect(page.locator("#name")).to_have_value(second)
        sync_api.expect(page.locator(".bubble.out .text")).to_have_text(["hello from the second"])
        assert sandbox.loop.run(_names(sandbox)) == ["Asha Rao", second, third]


async def _names(sandbox: Sandbox) -> list[str]:
    return [c["name"] for c in sandbox.app[JOURNAL].customers()]


def test_requests_newest_first_and_filtered_by_customer(browser):
    with sandbox_server() as sandbox, open_page(browser, sandbox.url) as page:
        type_message(page, "first")
        sync_api.expect(page.locator(".bubble.out")).to_have_count(1)
        page.locator("#new-customer").click()
        sync_api.expect(page.locator(".customers .customer")).to_have_count(2)
        other = page.locator("#phone").input_value()
        type_message(page, "second")
        sync_api.expect(page.locator(".bubble.out")).to_have_count(1)
        sandbox.bot_says(other, {"type": "text", "text": {"body": "reply to the second"}})
        page.locator(".tab", has_text="Requests").click()
        sync_api.expect(page.locator(".log-entry")).to_have_count(3)
        whats = page.locator(".log-entry .log-what").all_inner_texts()
        assert whats == ["text", f"text from +{other}", f"text from +{PHONE}"]  # newest first

        page.select_option("#request-filter", PHONE)
        sync_api.expect(page.locator(".log-entry:visible")).to_have_count(1)
        assert page.locator(".log-entry:visible .log-what").inner_text() == f"text from +{PHONE}"
        page.select_option("#request-filter", "current")
        sync_api.expect(page.locator(".log-entry:visible")).to_have_count(2)
        sandbox.bot_says(PHONE, {"type": "text", "text": {"body": "another to the first"}})
        sandbox.bot_says(other, {"type": "text", "text": {"body": "another to the second"}})
        sync_api.expect(page.locator(".log-entry")).to_have_count(5)
        sync_api.expect(page.locator(".log-entry:visible")).to_have_count(3)
        page.select_option("#request-filter", "")
        sync_api.expect(page.locator(".log-entry:visible")).to_have_count(5)


def test_an_over_long_message_keeps_its_text_and_says_the_limit(browser):
    with sandbox_server() as sandbox, open_page(browser, sandbox.url) as page:
        sync_api.expect(page.locator("#chat-status")).to_have_text("online")
        text = "ek kulhad set " * 300  # 4,200 characters
        type_message(page, text)
        sync_api.expect(page.locator("#composer-note")).to_contain_text("4,096")
        assert page.locator("#composer-input").input_value() == text
        assert page.locator(".bubble.out").count() == 0 and sandbox.bot.deliveries == []
        page.fill("#composer-input", text[:4000])
        page.dispatch_event("#composer-input", "input")
        sync_api.expect(page.locator("#composer-note")).to_be_hidden()
        page.press("#composer-input", "Enter")
        sync_api.expect(page.locator(".bubble.out")).to_have_count(1)
        assert page.locator("#composer-input").input_value() == ""


# -- start-up ----------------------------------------------------------------------------


def test_messages_typed_while_the_bot_starts_are_sent_once_it_is_ready(browser):
    with sandbox_server(bot_running=False) as sandbox, open_page(browser, sandbox.url) as page:
        sync_api.expect(page.locator("#chat-status")).to_contain_text("starting")
        type_message(page, "hi")
        type_message(page, "2 masala chai")
        sync_api.expect(page.locator(".bubble.out.waiting")).to_have_count(2)
        sync_api.expect(page.locator("#chat-status")).to_contain_text("2 messages waiting")
        assert page.locator(".not-delivered").count() == 0
        screenshot(page, "sandbox-starting.png")

        sandbox.start_bot()
        sync_api.expect(page.locator("#chat-status")).to_have_text("online", timeout=20_000)
        sync_api.expect(page.locator(".bubble.out.waiting")).to_have_count(0)
        sync_api.expect(page.locator(".bubble.out .ticks")).to_have_text(["✓✓", "✓✓"])
        assert len(sandbox.bot.deliveries) == 2
        assert page.locator(".not-delivered").count() == 0
