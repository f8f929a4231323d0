"""Resolve what a customer called a product: exact names first, then shared words, then typos."""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from commerce.products import NO_MATCH, Match, Product
from commerce.text import key, key_words, singular

SIMILARITY_THRESHOLD = 0.8  # "kulad"/"kulhad" is 0.91, "chahiye"/"chai" 0.73
CLEAR_MARGIN = 0.05  # a winner must beat the runner-up by this much, else we ask
MIN_FUZZY_LENGTH = 4  # one typo in a 3-letter word is a different word

# Words that name a kind of thing, not a product: "set" alone must not pick the kulhad set.
GENERIC_WORDS = frozenset({"tea", "chai", "set", "box", "first", "चाय", "टी", "सेट", "बॉक्स"})


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio()


class ProductIndex:
    """Every way a product can be named (name, aliases, the words of its sku), ready to match."""

    def __init__(self, products: Sequence[Product]) -> None:
        self._products = tuple(products)
        self._exact: dict[str, list[Product]] = {}
        self._forms: list[tuple[str, Product]] = []
        self._words: dict[str, frozenset[str]] = {}
        self._heads: dict[str, frozenset[str]] = {}
        for product in self._products:
            forms = {key(form) for form in (product.name, *product.also_called, product.sku)}
            forms.discard("")
            for form in forms:
                self._exact.setdefault(form, []).append(product)
                self._forms.append((form, product))
            self._words[product.sku] = frozenset(" ".join(forms).split())
            self._heads[product.sku] = frozenset(form.split()[-1] for form in forms)
        self._vocabulary = frozenset().union(*self._words.values())

    def exact(self, words: list[str]) -> Match:
        """Match only a whole name, alias or sku (size and filler words aside)."""
        products = self._exact.get(" ".join(key_words(words)))
        return _match(products) if products else NO_MATCH

    def knows(self, word: str) -> bool:
        """Whether a lowercased word is, or is a typo of, a word some product is called by."""
        return bool(self._similar_words(singular(word)))

    def lookup(self, words: list[str], fuzzy: bool = True) -> Match:
        """Match lowercased words; `fuzzy=False` allows no typos (for words next to numbers)."""
        wanted = key_words(words)
        if not wanted:
            return NO_MATCH
        exact = self._exact.get(" ".join(wanted))
        if exact:
            return _match(exact)
        match = self._by_words([{word} for word in wanted])
        if match is not None or not fuzzy:
            return match if match is not None else NO_MATCH
        options = [self._similar_words(word) for word in wanted]
        if all(options):
            match = self._by_words(options)
            if match is not None:
                return match
        return self._by_similarity(" ".join(wanted))

    def _by_words(self, options: list[set[str]]) -> Match | None:
        # Products that have, for each word of the mention, one of its readings among their words.
        candidates = [
            product
            for product in self._products
            if all(choices & self._words[product.sku] for choices in options)
        ]
        if not candidates:
            return None
        if len(options) == 1:
            # "tea" means the teas, not the tea mug: prefer products the word is the head of.
            heads = [p for p in candidates if options[0] & self._heads[p.sku]]
            candidates = heads or candidates
        only_generic = all(
            all(word in GENERIC_WORDS or word.isdigit() for word in choices) for choices in options
        )
        if only_generic and len(candidates) == 1:
            return NO_MATCH
        return _match(candidates)

    def _similar_words(self, word: str) -> set[str]:
        if word in self._vocabulary:
            return {word}
        if len(word) < MIN_FUZZY_LENGTH or word.isdigit():
            return set()
        scores = {known: similarity(word, known) for known in self._vocabulary}
        best = max(scores.values(), default=0.0)
        return {
            known
            for known, score in scores.items()
            if score >= SIMILARITY_THRESHOLD and score >= best - CLEAR_MARGIN
        }

    def _by_similarity(self, mention: str) -> Match:
        # Whole-phrase typos the word-by-word pass misses: "masla chia", "masalachai".
        if len(mention.replace(" ", "")) < MIN_FUZZY_LENGTH:
            return NO_MATCH
        scores: dict[str, float] = {}
        for form, product in self._forms:
            score = max(
                similarity(mention, form),
                similarity(mention.replace(" ", ""), form.replace(" ", "")),
            )
            scores[product.sku] = max(score, scores.get(product.sku, 0.0))
        best = max(scores.values(), default=0.0)
        close = [
            product
            for product in self._products
            if scores[product.sku] >= SIMILARITY_THRESHOLD
            and scores[product.sku] >= best - CLEAR_MARGIN
        ]
        return _match(close) if close else NO_MATCH


def _match(products: Sequence[Product]) -> Match:
    unique = list(dict.fromkeys(products))
    if len(unique) == 1:
        return Match(product=unique[0])
    return Match(product=None, candidates=tuple(unique))
