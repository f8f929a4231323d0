"""Read a quantity the way customers write it: "2", "x3", "2 pcs", "two", "teen", "दो", "dozen".

Numbers as words come from one table per language (English, Hindi in Latin letters,
Hindi in Devanagari), each with the spellings customers actually type. Devanagari is
compared folded (see commerce.text.fold), so "पाँच" and "पांच" are both 5.
"""

from __future__ import annotations

import math
import re
from typing import Any

from commerce.text import fold

ENGLISH_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20,
}

# Hindi/Hinglish numbers as customers type them in Latin letters, with common spellings.
HINDI_NUMBERS = {
    "ek": 1, "aik": 1, "do": 2, "teen": 3, "tin": 3, "char": 4, "chaar": 4,
    "paanch": 5, "panch": 5, "paach": 5, "chhe": 6, "che": 6, "chheh": 6, "chhah": 6,
    "chha": 6, "saat": 7, "aath": 8, "nau": 9, "das": 10, "dus": 10,
    "gyarah": 11, "gyara": 11, "barah": 12, "baarah": 12, "terah": 13, "chaudah": 14,
    "pandrah": 15, "pandra": 15, "solah": 16, "satrah": 17, "atharah": 18, "unnis": 19,
    "unees": 19, "bees": 20,
}

# Hindi numbers in Devanagari. Words are looked up folded, so "पाँच" and "पांच" are one.
# Devanagari digits (२, १०) are read like any other digits.
DEVANAGARI_NUMBERS = {
    "शून्य": 0, "एक": 1, "दो": 2, "तीन": 3, "चार": 4, "पाँच": 5, "छह": 6, "छः": 6,
    "छे": 6, "छै": 6, "सात": 7, "आठ": 8, "नौ": 9, "दस": 10,
    "ग्यारह": 11, "बारह": 12, "तेरह": 13, "चौदह": 14, "पंद्रह": 15, "पन्द्रह": 15,
    "सोलह": 16, "सत्रह": 17, "अठारह": 18, "उन्नीस": 19, "बीस": 20,
}

PHRASES = {
    "a": 1, "an": 1, "single": 1, "a single": 1,
    "couple": 2, "a couple": 2, "a pair": 2, "pair": 2,
    "dozen": 12, "a dozen": 12, "half dozen": 6, "half a dozen": 6,
    "darjan": 12, "ek darjan": 12, "aadha darjan": 6, "adha darjan": 6,
    "दर्जन": 12, "एक दर्जन": 12, "आधा दर्जन": 6,
}

NUMBER_WORDS: dict[str, int] = {
    fold(words): number
    for table in (ENGLISH_NUMBERS, HINDI_NUMBERS, DEVANAGARI_NUMBERS, PHRASES)
    for words, number in table.items()
}

# Count words that may follow a number ("2 pcs", "two packets"); "250 g" is a size, not a count.
UNIT_WORDS = frozenset(
    {"pc", "pcs", "piece", "pieces", "pkt", "pkts", "pack", "packs", "packet", "packets",
     "nos", "unit", "units", "qty", "पैकेट", "पैक", "पीस"}
)

_DIGITS = re.compile(r"(\d+)(?:\.0+)?")
_TIMES_AFTER = re.compile(r"(\d+)\s*x")  # "2x", "2 x"
_TIMES_BEFORE = re.compile(r"x\s*(\d+)")  # "x2", "x 2"
_NEGATIVE = re.compile(r"\s*-\s*\d+(?:\.\d+)?\s*")

# Past nine digits a number is read as this: more than any cart takes (the cart then
# says its limit), and never a 5,000-digit int() that Python refuses to convert.
MAX_READ = 10**9

# Why a quantity given outright (a button payload, a catalog cart) is none.
AT_LEAST_ONE = "Please choose a quantity of at least 1."
WHOLE_NUMBER = "Please send the quantity as a whole number, e.g. 2."


def parse_quantity(value: str | int | float | None) -> int | None:
    """The whole number a customer wrote, 0 for "0"/"zero", or None if it isn't one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        # Entity extractors hand over 2.0 for "2"; 2.5 of a mug is not an order.
        if math.isfinite(value) and value.is_integer() and value >= 0:
            return int(value)
        return None
    if not isinstance(value, str):
        return None
    return _parse_text(value)


def _parse_text(text: str) -> int | None:
    words = fold(text).lower().split()
    if len(words) > 1 and words[-1] == "of":  # "a couple of", "2 packets of"
        words = words[:-1]
    if len(words) > 1 and words[-1] in UNIT_WORDS:
        words = words[:-1]
    phrase = " ".join(words)
    for pattern in (_DIGITS, _TIMES_AFTER, _TIMES_BEFORE):
        match = pattern.fullmatch(phrase)
        if match:
            return _count(match.group(1))
    attached_unit = re.fullmatch(r"(\d+)([a-z]+)", phrase)  # "2pcs"
    if attached_unit and attached_unit.group(2) in UNIT_WORDS:
        return _count(attached_unit.group(1))
    return NUMBER_WORDS.get(phrase)


def _count(digits: str) -> int:
    return int(digits) if len(digits) <= 9 else MAX_READ


def quantity_problem(value: Any) -> str | None:
    """Why `value`, stated outright as the quantity to add, is not one; None when it is.

    A button payload (`/add_to_cart{"product": ..., "quantity": -5}`, typed or tapped)
    or a WhatsApp catalog cart states its quantity: unlike a word in typed text, which
    is simply no quantity when it is no number, such a value must be a whole number of
    at least 1, or nothing is added (and the customer is told this). The upper limit
    is the cart's to say.
    """
    negative = (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0
    ) or (isinstance(value, str) and _NEGATIVE.fullmatch(value) is not None)
    if negative:
        return AT_LEAST_ONE
    quantity = parse_quantity(value)
    if quantity is None:
        return WHOLE_NUMBER
    return AT_LEAST_ONE if quantity < 1 else None
