#!/usr/bin/env python3
"""Check that every response in domain.yml speaks every language the bot speaks.

A response's variation without a `language` condition is English (`en`); the others
name theirs (`condition: [{type: slot, name: language, value: hi-Latn}]`). For each
response this checks that

- there is a variation for `en`, `hi-Latn` and `hi`;
- all variations use the same {placeholders} (values from actions and slots read the
  same in every language) and the same button payloads in the same order;
- button titles and the labels of neutral `pay` / `list` payloads fit WhatsApp
  (20 characters; a note under a pay button 60).

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
