"""What a customer's question is about, read from its words (English, Hinglish, Hindi).

NLU says *that* a message asks about a product (`ask_product`) or a shop policy
(`ask_policy`); these helpers say *which* question it is (price or availability,
cash on delivery or delivery days), split "add the honey. How much is the darjeeling?"
into its parts, and tell a question from a name or an address at a form prompt.
"""

from __future__ import annotations

import enum
import re

from commerce.money import rupees_to_paise
from commerce.text import fold


class Topic(str, enum.Enum):
    COD = "cod"
    SHIPPING = "shipping"
    DISCOUNT = "discount"
    RETURNS = "returns"
    SUPPORT = "support"
    DELIVERY = "delivery"


class Ask(str, enum.Enum):
    CHEAPEST = "cheapest"
    BUDGET = "budget"  # "a gift under ₹500"
    GIFT = "gift"  # a gift, no budget
    AVAILABLE = "available"
    DETAILS = "details"  # price, size, what's in it


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(rf"(?<!\w)(?:{fold(p)})(?!\w)" for p in patterns), re.IGNORECASE)


# Checked in this order: "cash on delivery" is COD, "delivery charge" is shipping.
TOPIC_WORDS: list[tuple[Topic, re.Pattern[str]]] = [
    (
        Topic.COD,
        _words(
            r"cod",
            r"c\.o\.d",
            r"cash",
            r"cash on delivery",
            r"nakad",
            r"naqad",
            r"नकद",
            r"कैश",
            r"सीओडी",
            r"pay on delivery",
            r"pay later",
        ),
    ),
    (
        Topic.DISCOUNT,
        _words(
            r"discounts?",
            r"coupons?",
            r"offers?",
            r"promo\w*",
            r"codes?",
            r"sale",
            r"deals?",
            r"chhoot",
            r"chhut",
            r"छूट",
            r"डिस्काउंट",
            r"कूपन",
            r"ऑफ़र",
            r"ऑफर",
            r"कोड",
        ),
    ),
    (
        Topic.RETURNS,
        _words(
            r"returns?",
            r"return policy",
            r"exchange",
            r"replace\w*",
            r"wapas",
            r"vapas",
            r"wapis",
            r"वापस",
            r"वापसी",
            r"रिटर्न",
            r"बदल\w*",
            r"damaged",
            r"broken",
            r"toota",
            r"टूटा",
        ),
    ),
    (
        Topic.SHIPPING,
        _words(
            r"shipping",
            r"delivery (?:charges?|fees?|cost)",
            r"charges?",
            r"fees?",
            r"free delivery",
            r"free shipping",
            r"शिपिंग",
            r"चार्ज\w*",
            r"शुल्क",
            r"kharcha",
            r"खर्चा",
        ),
    ),
    (
        Topic.SUPPORT,
        _words(
            r"contact",
            r"phone",
            r"call",
            r"number",
            r"e-?mail",
            r"timings?",
            r"hours?",
            r"open",
            r"closed",
            r"holiday",
            r"band",
            r"chh?utti",
            r"support",
            r"customer care",
            r"helpline",
            r"samay",
            r"समय",
            r"संपर्क",
            r"नंबर",
            r"फ़ोन",
            r"फोन",
            r"खुल\w*",
            r"बंद",
            r"छुट्टी",
        ),
    ),
    (
        Topic.DELIVERY,
        _words(
            r"deliver\w*",
            r"ship",
            r"ships",
            r"days?",
            r"kab",
            r"kitne din",
            r"arrive",
            r"reach",
            r"when",
            r"pahunch\w*",
            r"aayega",
            r"milega",
            r"डिलीवरी",
            r"डिलिवरी",
            r"कब",
            r"पहुँच\w*",
            r"पहुंच\w*",
            r"दिन",
            r"pin ?codes?",
            r"city",
            r"shehar",
            r"शहर",
        ),
    ),
]

_CHEAPEST = _words(
    r"cheapest",
    r"lowest price",
    r"least expensive",
    r"sabse sasta",
    r"sabse saste",
    r"sasta",
    r"सबसे सस्ता",
    r"सबसे सस्ती",
    r"सस्ता",
    r"सस्ती",
)
_GIFT = _words(
    r"gifts?", r"gifting", r"present", r"tohf[ae]", r"तोहफ़[ाे]", r"तोहफ[ाे]", r"गिफ्ट"
)
_AVAILABLE = _words(
    r"available",
    r"availability",
    r"in stock",
    r"stock",
    r"milega",
    r"milta",
    r"milegi",
    r"उपलब्ध",
    r"मिलेगा",
    r"मिलेगी",
    r"मिलता",
    r"स्टॉक",
)
_BUDGET = re.compile(
    r"(?:under|below|within|less than|upto|up to|max|budget)\s*(?:rs\.?|₹|inr)?\s*(\d[\d,]*)"
    r"|(?:rs\.?|₹)?\s*(\d[\d,]*)\s*(?:rs|rupees?|₹|रुपये|रुपए)?\s*"
    r"(?:se kam|tak|ke andar|ke neeche|से कम|तक|के अंदर|के नीचे|or less|max)",
    re.IGNORECASE,
)
_ADD = _words(
    r"add",
    r"adding",
    r"daal\w*",
    r"dal do",
    r"dalo",
    r"daalo",
    r"put",
    r"include",
    r"jod\w*",
    r"डाल\w*",
    r"जोड़\w*",
    r"जोड\w*",
    r"bhej do",
)
_QUESTION_START = _words(
    r"how",
    r"what",
    r"whats",
    r"what's",
    r"when",
    r"where",
    r"which",
    r"why",
    r"do",
    r"does",
    r"did",
    r"can",
    r"could",
    r"is",
    r"are",
    r"will",
    r"kya",
    r"kab",
    r"kitna",
    r"kitne",
    r"kitni",
    r"kaise",
    r"kahan",
    r"kaun",
    r"kaunsa",
    r"क्या",
    r"कब",
    r"कितना",
    r"कितने",
    r"कितनी",
    r"कैसे",
    r"कहाँ",
    r"कहां",
    r"कौन",
    r"कौनसा",
)
_QUESTION_ANYWHERE = _words(
    r"kya hai",
    r"milega kya",
    r"hai kya",
    r"kitne ka",
    r"kitne ki",
    r"how much",
    r"do you",
    r"do u",
    r"can i",
    r"क्या है",
    r"कितने का",
    r"कितने की",
    r"price kya",
    r"rate kya",
    r"kitne din",
    r"कितने दिन",
    r"है क्या",
    r"हैं क्या",
    r"होगी",
    r"होगा",
)
_PRICE = _words(
    r"price",
    r"prices",
    r"rate",
    r"cost",
    r"costs",
    r"how much",
    r"kitne",
    r"kitna",
    r"kitni",
    r"daam",
    r"dam",
    r"size",
    r"grams?",
    r"ml",
    r"kya kya",
    r"what's in",
    r"कीमत",
    r"दाम",
    r"कितने",
    r"कितना",
    r"कितनी",
    r"साइज़",
    r"ग्राम",
)
_CLAUSE_END = re.compile(r"(?<=[.!?।\n])\s*")


def policy_topic(text: str) -> Topic | None:
    folded = fold(text or "")
    return next((topic for topic, pattern in TOPIC_WORDS if pattern.search(folded)), None)


def budget_in(text: str) -> int | None:
    """The budget a question states, in paise ("under ₹500", "500 se kam"), or None."""
    match = _BUDGET.search(text or "")
    if not match:
        return None
    number = (match.group(1) or match.group(2) or "").replace(",", "")
    try:
        return rupees_to_paise(number) if number else None
    except ValueError:
        return None


def product_ask(text: str) -> Ask:
    if _CHEAPEST.search(fold(text or "")):
        return Ask.CHEAPEST
    if budget_in(text) is not None:
        return Ask.BUDGET
    if _GIFT.search(fold(text or "")):
        return Ask.GIFT
    if _AVAILABLE.search(fold(text or "")):
        return Ask.AVAILABLE
    return Ask.DETAILS


def asks_about_products(text: str) -> bool:
    """A question about products rather than a request for the menu: a price, a size,
    availability, the cheapest, a budget."""
    return bool(_PRICE.search(fold(text or ""))) or product_ask(text) is not Ask.DETAILS


def looks_like_question(text: str) -> bool:
    """A message that asks rather than answers: "do u deliver in pune??", "kitne din?"."""
    text = (text or "").strip()
    if not text or text.startswith("/"):
        return False
    if "?" in text:
        return True
    first = text.split()[0]
    return bool(_QUESTION_START.fullmatch(fold(first)) or _QUESTION_ANYWHERE.search(fold(text)))


def asks_to_add(text: str) -> bool:
    return bool(_ADD.search(fold(text or "")))


def clauses(text: str) -> list[tuple[int, str]]:
    """The sentences of a message with their offsets: "Also add the honey. How much is
    the darjeeling?" -> [(0, "Also add the honey."), (20, "How much is the darjeeling?")]."""
    parts: list[tuple[int, str]] = []
    start = 0
    for match in _CLAUSE_END.finditer(text or ""):
        if re.search(r"\w", text[start : match.start()]):
            parts.append((start, text[start : match.start()]))
        start = match.end()
    if re.search(r"\w", (text or "")[start:]):
        parts.append((start, text[start:]))
    return parts


def question_spans(text: str) -> list[tuple[int, int]]:
    """Where a message with several sentences asks (and doesn't ask to add)."""
    parts = clauses(text)
    if len(parts) < 2:
        return []
    return [
        (start, start + len(part))
        for start, part in parts
        if looks_like_question(part) and not asks_to_add(part)
    ]


def add_spans(text: str) -> list[tuple[int, int]]:
    """Where a message with several sentences asks to add something."""
    parts = clauses(text)
    if len(parts) < 2:
        return []
    return [(start, start + len(part)) for start, part in parts if asks_to_add(part)]
