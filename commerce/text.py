"""Turn customer text into word tokens, and product wording into comparable keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Words that never tell products apart: "a packet of masala chai wala" is "masala chai".
FILLER_WORDS = frozenset(
    {"a", "an", "the", "some", "pack", "packet", "pkt", "of", "wala", "wali", "wale", "vala",
     "vali", "bhi", "aur", "and", "please", "pls", "plz", "s"}
)

SIZE_UNITS = frozenset({"g", "gm", "gms", "gram", "grams", "kg", "kgs", "ml", "l", "ltr"})
_SIZE = re.compile(r"\d+(?:\.\d+)?(?:g|gm|gms|gram|grams|kg|kgs|ml|l|ltr)")  # "250g"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Punctuation that ends a phrase: a quantity never reaches across it ("chai x3, darjeeling").
SEPARATORS = frozenset(",;.!?\n|/")


@dataclass(frozen=True)
class Token:
    text: str  # lowercased
    start: int  # offsets into the original message
    end: int
    after_separator: bool  # a separator stands between this token and the one before


def _is_word_char(char: str) -> bool:
    # Letters, digits and combining marks (so Devanagari words stay whole); emoji are not.
    return unicodedata.category(char)[0] in "LNM"


def tokenize(text: str) -> list[Token]:
    """Word tokens with their offsets; a "." between digits stays inside the number."""
    tokens: list[Token] = []
    start: int | None = None
    separated = False
    for i, char in enumerate(text):
        if _is_word_char(char) or (char == "." and start is not None and _in_number(text, i)):
            if start is None:
                start = i
            continue
        if start is not None:
            tokens.append(Token(text[start:i].lower(), start, i, separated))
            start, separated = None, False
        if char in SEPARATORS and tokens:
            separated = True
    if start is not None:
        tokens.append(Token(text[start:].lower(), start, len(text), separated))
    return tokens


def _in_number(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def words(text: str) -> list[str]:
    """Lowercased word tokens of a short phrase."""
    return [token.text for token in tokenize(unicodedata.normalize("NFKC", text))]


def singular(word: str) -> str:
    """Crude English singular so "mugs"/"mug" and "cookie"/"cookies" compare equal."""
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def size_length(tokens: list[str]) -> int:
    """How many leading tokens spell a pack size: 1 for "250g", 2 for "250 g", else 0."""
    if tokens and _SIZE.fullmatch(tokens[0]):
        return 1
    if len(tokens) > 1 and _NUMBER.fullmatch(tokens[0]) and tokens[1] in SIZE_UNITS:
        return 2
    return 0


def key_words(tokens: list[str]) -> list[str]:
    """The words that identify a product: no filler, no sizes like "250 g", singular."""
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        size = size_length(tokens[i:])
        if size:
            i += size
            continue
        if tokens[i] not in FILLER_WORDS:
            kept.append(singular(tokens[i]))
        i += 1
    return kept


def key(text: str) -> str:
    """Comparable form of a product name, alias or mention: "Masala Chai 250 g" -> "masala chai"."""
    return " ".join(key_words(words(text)))
