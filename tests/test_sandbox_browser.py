"""The sandbox in a real browser: Debian's headless Chromium driven by Playwright.

The sandbox, the action server and Rasa run as processes, as `make run` starts them
without credentials. A customer chats on the page, checks out, taps Pay Now, pays (or
fails) on the checkout page, and the bot's answer arrives in the chat. Screenshots go
to results/ for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from sandbox.harness.live_stack import MODEL, REPO, SandboxStack, log_tails, sandbox_stack
from sandbox.harness.page_checks import (
    ATTACK_IMG,
    ATTACK_URL,
    CHROMIUM,
    CHROMIUM_ARGS,
    TRAP,
    assert_no_script_ran,
    hover_everything,
)

RESULTS = REPO / "results"
TURN_TIMEOUT_MS = 60_000  # one bot turn on a busy 2-core machine

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"no Chromium at {CHROMIUM}: `make browser` installs Debian's"),
    pytest.mark.skipif(not MODEL.exists(),
                       reason=f"no trained model at {MODEL}: run `make train` (make test does)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[SandboxStack]:
    with sandbox_stack(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        # Debian's Chromium, never a downloaded one (`playwright install` is not used).
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, stack) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TURN_TIMEOUT_MS)
    context.add_init_script(TRAP)
    page = context.new_page()
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page.goto(stack.url)
    sync_api.expect(page.locator("#chat-status")).to_have_text("online", timeout=TURN_TIMEOUT_MS)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the pages: {errors}"


def screenshot(page: sync_api.Page, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / name))


def as_customer(page: sync_api.Page, phone: str, name: str) -> None:
    page.fill("#phone", phone)
    page.dispatch_event("#phone", "change")
    page.fill("#name", name)
    page.dispatch_event("#name", "change")
    sync_api.expect(page.locator(".customers .active .customer-phone")).to_have_text(f"+{phone}")


def wait_for_bot(page: sync_api.Page, before: int, words: str, stack: SandboxStack) -> str:
    """The text of the first bot bubble after the first `before` that contains `words`."""
    try:
        page.wait_for_function(
            """([before, words]) => [...document.querySelectorAll('.bubble.in')].slice(before)
                 .some((b) => b.innerText.toLowerCase().includes(words.toLowerCase()))""",
            arg=[before, words], timeout=TURN_TIMEOUT_MS,
        )
    except sync_api.TimeoutError:
        shown = page.locator(".bubble").all_inner_texts()
        raise AssertionError(f"no bot message with {words!r}; chat: {shown}\n"
                             f"{log_tails(stack.logs)}") from None
    bubbles = page.locator(".bubble.in").all_inner_texts()[before:]
    return next(text for text in bubbles if words.lower() in text.lower())


def bot_count(page: sync_api.Page) -> int:
    return page.locator(".bubble.in").count()


def say(page: sync_api.Page, text: str, expect: str, stack: SandboxStack) -> str:
    before = bot_count(page)
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    return wait_for_bot(page, before, expect, stack)


def check_out(page: sync_api.Page, stack: SandboxStack) -> str:
    """From hello to the Pay Now button; returns the order number."""
    say(page, "hi", "tea", stack)
    added = say(page, "2 masala chai and a mug", "₹799", stack)
    assert "Masala Chai" in added
    say(page, "checkout", "name", stack)
    say(page, "Asha Rao", "address", stack)
    say(page, "12 MG Road, Shanthala Nagar, Bengaluru", "PIN", stack)
    say(page, "560001", "check your order", stack)
    before = bot_count(page)
    page.locator(".reply-button", has_text="Confirm").last.click()
    pay_now = wait_for_bot(page, before, "Total: ₹799", stack)
    sync_api.expect(page.locator(".cta-button").last).to_have_text(re.compile("Pay Now"))
    number = re.search(r"Order #(\d+)", pay_now)
    assert number, pay_now
    return number.group(1)


def open_checkout(page: sync_api.Page) -> sync_api.Page:
    with page.expect_popup() as popup:
        page.locator(".cta-button").last.click()
    checkout = popup.value
    checkout.set_viewport_size({"width": 1100, "height": 720})
    sync_api.expect(checkout.locator("#amount")).to_have_text("₹799")
    return checkout


def test_pay_now_and_pay_on_the_checkout_page(page, stack):
    as_customer(page, "919800000101", "Asha Rao")
    number = check_out(page, stack)

    checkout = open_checkout(page)
    sync_api.expect(checkout.locator("#description")).to_have_text(f"Order #{number}")
    screenshot(checkout, "sandbox-checkout.png")
    checkout.get_by_role("button", name="Pay (UPI)").click()
    sync_api.expect(checkout.locator("#result-title")).to_have_text("Payment successful")
    sync_api.expect(checkout.locator("#webhooks li.ok")).to_have_count(3)
    screenshot(checkout, "sandbox-checkout-paid.png")

    confirmation = wait_for_bot(page, 0, "Payment successful", stack)
    assert f"#{number}" in confirmation and "₹799 paid" in confirmation
    assert "Items: 3" in confirmation
    # The designer panel shows what the bot understood of the cart message.
    page.locator(".bubble.out", has_text="2 masala chai and a mug").click()
    turn = page.locator(".turn.selected")
    sync_api.expect(turn.locator(".intent-name")).to_have_text("add_to_cart")
    sync_api.expect(turn.locator(".chip.entity", has_text="product").first).to_be_visible()
    sync_api.expect(page.locator(".turn.external .intent-name")).to_have_text(
        "EXTERNAL_payment_received"
    )
    page.locator(".bubble.in").last.scroll_into_view_if_needed()
    screenshot(page, "sandbox-chat-paid.png")

    # The request log shows the link the bot created at the Razorpay stand-in.
    page.get_by_role("tab", name="Requests").click()
    sync_api.expect(
        page.locator(".log-entry.razorpay .log-path", has_text="POST /v1/payment_links").first
    ).to_be_visible()
    # Three deliveries for one payment, one confirmation.
    assert page.locator(".bubble.in", has_text="Payment successful").count() == 1


def test_failed_payment_is_told_in_the_chat(page, stack):
    as_customer(page, "919800000102", "Ravi Kumar")
    number = check_out(page, stack)

    checkout = open_checkout(page)
    checkout.get_by_role("button", name="Fail").click()
    sync_api.expect(checkout.locator("#result-title")).to_have_text("Payment failed")

    failure = wait_for_bot(page, 0, "didn't go through", stack)
    assert f"#{number}" in failure
    sync_api.expect(page.locator(".reply-button", has_text="Pay now").last).to_be_visible()
    sync_api.expect(page.locator(".turn.external .intent-name")).to_have_text(
        "EXTERNAL_payment_failed"
    )
    screenshot(page, "sandbox-chat-failed.png")

    # The list picker: Browse, pick a product, send; the bot adds it to a new cart.
    before = bot_count(page)
    page.locator(".reply-button", has_text="Browse").first.click()
    wait_for_bot(page, before, "Tap a product", stack)
    page.locator(".list-button", has_text="See products").last.click()
    page.locator(".sheet-row", has_text="Ceramic Tea Mug").click()
    screenshot(page, "sandbox-list-picker.png")
    before = bot_count(page)
    page.locator("#sheet-send").click()
    assert "Ceramic Tea Mug" in wait_for_bot(page, before, "Added", stack)


def settle(page: sync_api.Page, before: int, stack: SandboxStack, quiet_ms: int = 1500) -> None:
    """Until the bot said something after the first `before` bubbles, then nothing more
    for `quiet_ms` (its turn is over), whatever the words."""
    try:
        page.wait_for_function(
            "(before) => document.querySelectorAll('.bubble.in').length > before",
            arg=before, timeout=TURN_TIMEOUT_MS,
        )
    except sync_api.TimeoutError:
        raise AssertionError(f"the bot said nothing; chat: "
                             f"{page.locator('.bubble').all_inner_texts()}\n"
                             f"{log_tails(stack.logs)}") from None
    count = bot_count(page)
    while True:
        page.wait_for_timeout(quiet_ms)
        if bot_count(page) == count:
            return
        count = bot_count(page)


def test_attack_strings_typed_to_the_real_bot_run_no_script(page, stack):
    """The issue's attack: the message, the customer's WhatsApp name and the delivery
    address (which the bot echoes in its order summary) hold a URL whose quote would
    close an href, and an <img onerror>. Nothing of it may run or become an attribute."""
    as_customer(page, "919800000103", ATTACK_URL)
    steps = [ATTACK_URL, ATTACK_IMG, "2 masala chai", "checkout",
             "Asha <img src=x onerror=alert(document.domain)>", ATTACK_URL]
    for text in steps:
        before = bot_count(page)
        page.fill("#composer-input", text)
        page.press("#composer-input", "Enter")
        settle(page, before, stack)
    summary = say(page, "560001", "evil.example", stack)  # the address, echoed
    assert '"onmouseover="' in summary
    hover_everything(page)
    for link in page.locator(".bubble a").all():
        link.hover()
        assert link.get_attribute("href") == "https://evil.example/"
    page.locator(".bubble.out").first.click()  # the designer panel shows the same text
    sync_api.expect(page.locator(".turn").first).to_be_visible()
    hover_everything(page)
    page.get_by_role("tab", name="Requests").click()
    assert_no_script_ran(page)
    assert page.locator(".customers .active .customer-name").inner_text() == ATTACK_URL
    screenshot(page, "sandbox-chat-attack-strings.png")


@pytest.fixture(autouse=True, scope="module")
def _no_stale_screenshots() -> None:
    RESULTS.mkdir(exist_ok=True)
    for old in RESULTS.glob("sandbox-*.png"):
        old.unlink()
