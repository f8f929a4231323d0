"""For the browser tests of the sandbox's pages: the attack strings, a trap for any script
the page did not mean to run, and the checks that no value became markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Debian's Chromium (`make browser`), headless, as both browser tests launch it.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

ATTACK_URL = 'https://evil.example/"onmouseover="alert(document.domain)"'
ATTACK_IMG = "<img src=x onerror=alert(1)>"
ATTACKS = [
    ATTACK_URL,
    ATTACK_IMG,
    "https://evil.example/'onmouseover='alert(2)'",
    'https://evil.example/"><svg onload=alert(3)>',
    "*bold https://evil.example/\"onfocus=\"alert(4)\" autofocus=\"*",
    "javascript:alert(5)",
]

# Any script the page did not mean to run calls one of these (or sets window.__pwned).
TRAP = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (message) => { window.__alerts.push(`${name}:${message}`); };
}
"""

# Facts about the page that hold whatever it shows: no element carries an event
# handler attribute, links are web links with no quote in them, no image loads "x".
SCAN = """() => {
  const handlers = [];
  for (const node of document.querySelectorAll("*")) {
    for (const attribute of node.attributes) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith("on")) handlers.push(`${node.tagName} ${name}`);
    }
  }
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"));
  const images = [...document.querySelectorAll("img")].map((i) => i.getAttribute("src"));
  const svgs = document.querySelectorAll(".messages svg, .tab-body svg, .customers svg").length;
  return { handlers, links, images, svgs, alerts: window.__alerts, pwned: window.__pwned || null };
}"""


def hover_everything(page: Any) -> None:
    for selector in (".bubble a", ".bubble", ".msg-button", ".customers button", ".turn"):
        for item in page.locator(selector).all():
            if item.is_visible():
                item.hover()
    page.keyboard.press("Tab")


def assert_no_script_ran(page: Any) -> None:
    page.wait_for_timeout(300)
    found = page.evaluate(SCAN)
    assert found["handlers"] == [], found
    assert found["alerts"] == [] and found["pwned"] is None, found
    assert found["svgs"] == 0, found
    assert "x" not in found["images"], found
    for href in found["links"]:
        assert href.startswith(("http://", "https://")), href
        assert not any(c in href for c in "\"'<> "), href
