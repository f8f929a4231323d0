"""Find the products named in a whole customer message, with the quantity written beside each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from commerce.matching import ProductIndex
from commerce.products import Match, Mention
from commerce.quantity import parse_quantity
from commerce.text import FILLER_WORDS, Token, size_length, tokenize

MAX_WINDOW = 4  # longest product phrase tried, in words ("darjeeling first flush 100")

# Chat around the product names ("mujhe 2 chai chahiye", "add a mug to my cart please",
# "मुझे दो मग चाहिए"):
# such words never start or end a product phrase, so typo matching can't grab them.
CHAT_WORDS = frozenset(
    {"i", "me", "my", "we", "us", "you", "it", "to", "in", "into", "for", "with", "want", "need",
     "like", "would", "get", "give", "send", "add", "put", "order", "buy", "cart", "basket",
     "also", "more", "plus", "just", "can", "could", "have", "is", "are", "this", "that", "ok",
     "okay", "yes", "no", "hi", "hello", "hey", "thanks", "remove", "delete",
     "hai", "hain", "ho", "ka", "ki", "ke", "ko", "se", "mein", "main", "mai", "mujhe", "hume",
     "humein", "chahiye", "chahie", "chaiye", "chaahiye", "daal", "dal", "daalo", "dalo", "de",
     "dedo", "dena", "bhej", "bhejo", "bhejna", "kar", "karo", "kardo", "karna", "lo", "le",
     "lena", "lelo", "bhai", "sir", "ji", "aap",
     # the same in Devanagari (folded, see commerce.text.fold)
     "मुझे", "हमें", "चाहिए", "है", "हैं", "का", "की", "के", "को", "से", "में", "डाल", "डालो",
     "दे", "दो", "दीजिए", "भेज", "भेजो", "भेजना", "कर", "करो", "हटा", "हटाओ",
     "निकाल", "निकालो", "नहीं", "जी", "भैया", "भाई", "आप", "कार्ट"}
)

_TRAILING_FORM = re.compile(r"x\s*\d")  # "x2" follows its product, never precedes one


@dataclass(frozen=True)
class _Span:
    start: int  # token indices, end exclusive
    end: int
    match: Match


def find_mentions(text: str, index: ProductIndex) -> list[Mention]:
    tokens = tokenize(text)
    spans = _find_spans(tokens, index)
    quantities = _assign_quantities(tokens, spans)
    return [
        Mention(
            text=text[tokens[span.start].start : tokens[span.end - 1].end],
            quantity=quantity,
            match=span.match,
            start=tokens[span.start].start,
        )
        for span, quantity in zip(spans, quantities, strict=True)
    ]


def _is_quantity(token: Token) -> bool:
    return parse_quantity(token.text) is not None


def _can_edge(token: Token) -> bool:
    return token.text not in FILLER_WORDS and token.text not in CHAT_WORDS


def _find_spans(tokens: list[Token], index: ProductIndex) -> list[_Span]:
    spans: list[_Span] = []
    i = 0
    while i < len(tokens):
        span = _longest_span(tokens, i, index)
        if span is None:
            i += 1
        else:
            spans.append(span)
            i = span.end
    return spans


def _longest_span(tokens: list[Token], i: int, index: ProductIndex) -> _Span | None:
    # A leading number is the quantity ("6 kulhad set"), so a phrase never starts with one.
    if not _can_edge(tokens[i]) or _is_quantity(tokens[i]):
        return None
    for end in range(min(len(tokens), i + MAX_WINDOW), i, -1):
        window = tokens[i:end]
        if any(token.after_separator for token in window[1:]) or not _can_edge(window[-1]):
            continue
        words = [token.text for token in window]
        match = index.exact(words)  # "kulhad set of 6" is a name, though it ends in a number
        if not (match.found or match.is_ambiguous):
            # Otherwise both ends must be product words or their typos: "darjeling tea if" would
            # pass as a whole-phrase typo of "darjeeling tea", and "kulhad 6" is six kulhads.
            if _is_quantity(window[-1]) or not (index.knows(words[0]) and index.knows(words[-1])):
                continue
            match = index.lookup(words, fuzzy=not any(_is_quantity(t) for t in window))
        if match.found or match.is_ambiguous:
            rest = [token.text for token in tokens[end:]]
            if tokens[end:] and not tokens[end].after_separator:
                end += size_length(rest)  # "assam black tea 500 g": 500 is a size, not a quantity
            return _Span(i, end, match)
    return None


def _assign_quantities(tokens: list[Token], spans: list[_Span]) -> list[int | None]:
    taken = {i for span in spans for i in range(span.start, span.end)}
    quantities: list[int | None] = [None] * len(spans)
    # Numbers before a product win ("2 chai and 1 mug") ...
    for k, span in enumerate(spans):
        before = _quantity_before(tokens, span.start, taken)
        trailing_style = (
            before is not None
            and k > 0
            and before[0] == spans[k - 1].end
            and _quantity_after(tokens, span.end, taken) is not None
        )
        if before is not None and not trailing_style:  # "chai 2 mug 3": 2 is the chai's
            first, value = before
            quantities[k] = value
            taken.update(range(first, span.start))
    # ... then digits after one ("masala chai x3, darjeeling 2").
    for k, span in enumerate(spans):
        if quantities[k] is None:
            after = _quantity_after(tokens, span.end, taken)
            if after is not None:
                last, value = after
                quantities[k] = value
                taken.update(range(span.end, last))
    return quantities


def _quantity_before(tokens: list[Token], start: int, taken: set[int]) -> tuple[int, int] | None:
    """(first token index, value) of a quantity written just before tokens[start]."""
    for size in (3, 2, 1):
        first = start - size
        if first < 0 or taken.intersection(range(first, start)):
            continue
        if any(token.after_separator for token in tokens[first + 1 : start + 1]):
            continue
        phrase = " ".join(token.text for token in tokens[first:start])
        value = parse_quantity(phrase)
        if value is not None and not _TRAILING_FORM.match(phrase):
            return first, value
    return None


def _quantity_after(tokens: list[Token], end: int, taken: set[int]) -> tuple[int, int] | None:
    """(index past the quantity, value) of digits written just after a product ending at end."""
    for size in (2, 1):
        last = end + size
        if last > len(tokens) or taken.intersection(range(end, last)):
            continue
        if any(token.after_separator for token in tokens[end:last]):
            continue
        phrase = " ".join(token.text for token in tokens[end:last])
        # Only digits count here: in "kulhad set bhi daal do", "do" is the verb "give".
        value = parse_quantity(phrase)
        if value is not None and any(char.isdigit() for char in phrase):
            return last, value
    return None
