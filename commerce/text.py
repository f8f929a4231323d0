"""Turn customer text into word tokens, and product wording into comparable keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Words that never tell products apart: "a packet of masala chai wala" is "masala chai",
# "अदरक वाली कुकीज़" is "अदरक कुकीज़".
FILLER_WORDS = frozenset(
    {"a", "an", "the", "some", "pack", "packet", "pkt", "of", "wala", "wali", "wale", "vala",
     "vali", "bhi", "aur", "and", "please", "pls", "plz", "s",
     "वाला", "वाली", "वाले", "भी", "और", "पैक", "पैकेट", "प्लीज"}  # folded forms (see fold)
)

SIZE_UNITS = frozenset({"g", "gm", "gms", "gram", "grams", "kg", "kgs", "ml", "l", "ltr"})
_SIZE = re.compile(r"\d+(?:\.\d+)?(?:g|gm|gms|gram|grams|kg|kgs|ml|l|ltr)")  # "250g"
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Punctuation that ends a phrase: a quantity never reaches across it ("chai x3, darjeeling").
SEPARATORS = frozenset(",;.!?\n|/")


# One Devanagari word reaches us spelled several ways, depending on the keyboard: with or
# without a nukta (कुकीज़ / कुकीज), with a chandrabindu or an anusvara (पाँच / पांच),
# with invisible joiners. Folding them to one form lets a word match however it was typed.
_DEVANAGARI_FOLDS = str.maketrans(
    {"\u093c": None, "\u0901": "\u0902", "\u200c": None, "\u200d": None}
)
_JOINERS = frozenset("\u200c\u200d")


def fold(text: str) -> str:
    """`text` in Unicode NFKC with Devanagari spelling variants folded (nukta, chandrabindu)."""
    return unicodedata.normalize("NFKC", text).translate(_DEVANAGARI_FOLDS)


@dataclass(frozen=True)
class Token:
    text: str  # lowercased and folded
    start: int  # offsets into the original message
    end: int
    after_separator: bool  # a separator stands between this token and the one before


def _is_word_char(char: str) -> bool:
    # Letters, digits and combining marks (so Devanagari words stay whole); emoji are not.
    return unicodedata.category(char)[0] in "LNM" or char in _JOINERS


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
            tokens.append(Token(fold(text[start:i]).lower(), start, i, separated))
            start, separated = None, False
        if char in SEPARATORS and tokens:
            separated = True
    if start is not None:
        tokens.append(Token(fold(text[start:]).lower(), start, len(text), separated))
    return tokens


def _in_number(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def words(text: str) -> list[str]:
    """Lowercased word tokens of a short phrase."""
    return [token.text for token in tokenize(text)]


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


def without_sizes(tokens: list[str]) -> list[str]:
    """The tokens without pack sizes like "250 g" or "set of 6"."""
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        size = size_length(tokens[i:])
        if size:
            i += size
            continue
        kept.append(tokens[i])
        i += 1
    return kept


def key_words(tokens: list[str]) -> list[str]:
    """The words that identify a product: no filler, no sizes like "250 g", singular."""
    return [singular(token) for token in without_sizes(tokens) if token not in FILLER_WORDS]


def key(text: str) -> str:
    """Comparable form of a product name, alias or mention: "Masala Chai 250 g" -> "masala chai"."""
    return " ".join(key_words(words(text)))
