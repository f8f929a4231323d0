#!/usr/bin/env python3
"""Check that every response in domain.yml speaks every language the bot speaks.

A response's variation without a `language` condition is English (`en`); the others
name theirs (`condition: [{type: slot, name: language, value: hi-Latn}]`). For each
response this checks that

- there is a variation for `en`, `hi-Latn` and `hi`;
- all variations use the same {placeholders} (values from actions and slots read the
  same in every language) and the same button payloads in the same order;
- button titles and the labels of neutral `pay` / `list` payloads fit WhatsApp
  (20 characters; a note under a pay button 60);
- every variation carries the words its channel shows around the buttons, so none is
  left to code in one language: a response with more than 3 buttons, or a `list`
  payload (the actions add buttons to it), has `custom: {list: {label, more,
  more_label}}` (the list's open button, the text and button of its further pages past
  10 buttons); a `pay` payload has its `url` and `label`; a response with buttons or
  either payload has a text (the message's body).

Usage: scripts/check_languages.py [domain.yml]. Exit status 1 lists every problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "hi-Latn", "hi")
SLOT = "language"
TITLE_LIMIT = 20
NOTE_LIMIT = 60
MAX_REPLY_BUTTONS = 3  # WhatsApp reply buttons; more become a list message
LIST_KEYS = ("label", "more", "more_label")
_PLACEHOLDER = re.compile(r"{([^\n{}\"]+?)}")


def language_of(variation: dict[str, Any]) -> str:
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and condition.get("name") == SLOT:
            return str(condition.get("value"))
    return "en"


def placeholders(variation: dict[str, Any]) -> set[str]:
    texts = [variation.get("text") or "", yaml.safe_dump(variation.get("custom") or {})]
    return {name for text in texts for name in _PLACEHOLDER.findall(text)}


def label_problems(variation: dict[str, Any]) -> list[str]:
    labels = [str(b.get("title") or "") for b in variation.get("buttons") or []]
    custom = variation.get("custom") or {}
    pay, choices = custom.get("pay") or {}, custom.get("list") or {}
    labels += [str(pay.get("label") or "")]
    labels += [str(choices.get(key) or "") for key in ("label", "more_label")]
    problems = [f"“{label}” is longer than {TITLE_LIMIT}" for label in labels
                if len(label) > TITLE_LIMIT]
    if len(str(pay.get("note") or "")) > NOTE_LIMIT:
        problems.append(f"the pay note is longer than {NOTE_LIMIT}")
    return problems


def shape_problems(variation: dict[str, Any]) -> list[str]:
    """The words the channel needs around the buttons, missing from this variation."""
    buttons = variation.get("buttons") or []
    custom = variation.get("custom") or {}
    problems = []
    if "list" in custom or len(buttons) > MAX_REPLY_BUTTONS:
        choices = custom.get("list")
        choices = choices if isinstance(choices, dict) else {}
        missing = [key for key in LIST_KEYS if not str(choices.get(key) or "").strip()]
        if missing:
            why = (f"its {len(buttons)} buttons show" if len(buttons) > MAX_REPLY_BUTTONS
                   else "its buttons show")
            problems.append(
                f"{why} as a list, and `custom: {{list: {{{', '.join(LIST_KEYS)}}}}}` "
                f"lacks {', '.join(missing)}"
            )
    if "pay" in custom:
        pay = custom.get("pay")
        pay = pay if isinstance(pay, dict) else {}
        missing = [key for key in ("url", "label") if not str(pay.get(key) or "").strip()]
        if missing:
            problems.append(f"the pay payload lacks {', '.join(missing)}")
    if (buttons or "list" in custom or "pay" in custom) and not str(
        variation.get("text") or ""
    ).strip():
        problems.append("has buttons but no text (their message's body)")
    return problems


def problems_of(name: str, variations: list[dict[str, Any]]) -> list[str]:
    problems = []
    present = {language_of(v) for v in variations}
    for language in LANGUAGES:
        if language not in present:
            problems.append(f"{name}: no `{language}` variation")
    for language in sorted(present - set(LANGUAGES)):
        problems.append(f"{name}: unknown language `{language}`")
    first = variations[0]
    for variation in variations:
        where = f"{name} ({language_of(variation)})"
        if placeholders(variation) != placeholders(first):
            problems.append(
                f"{where}: placeholders {sorted(placeholders(variation))} differ from "
                f"{sorted(placeholders(first))}"
            )
        payloads = [b.get("payload") for b in variation.get("buttons") or []]
        if payloads != [b.get("payload") for b in first.get("buttons") or []]:
            problems.append(f"{where}: button payloads differ from the first variation's")
        problems += [f"{where}: {problem}" for problem in label_problems(variation)]
        problems += [f"{where}: {problem}" for problem in shape_problems(variation)]
    return problems


def check(domain_path: Path) -> list[str]:
    responses = (yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}).get(
        "responses"
    ) or {}
    return [problem for name, variations in responses.items()
            for problem in problems_of(name, variations or [{}])]


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "domain.yml")
    problems = check(path)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {path}'s responses")
        return 1
    print(f"Every response in {path} has {', '.join(LANGUAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
