"""A tokenizer that lets Hindi in Devanagari share what the model learnt from Hinglish.

Customers write the same Hindi in two scripts: "cart dikhao" and "कार्ट दिखाओ". The
training data has far more Hinglish than Devanagari, and no pretrained embeddings may
tell the model that the two are one language, so DevanagariWhitespaceTokenizer gives
each Devanagari token the Latin spelling a Hinglish writer would use (`romanize`:
"दिखाओ" -> "dikhao", "करना" -> "karna", English loanwords back to English: "कार्ट" ->
"cart"). Every featurizer after it then sees "कार्ट दिखाओ" as "cart dikhao", while the
token offsets stay those of the original message, so entity values are the customer's
own words and the regexes in data/nlu/lookups.yml still match the Devanagari text.

Two more things went wrong with Devanagari after Rasa's WhitespaceTokenizer:

* CountVectorsFeaturizer (word analyzer) re-splits every token with the regex
  `\\b\\w+\\b`, and Python's `\\w` does not match Devanagari vowel signs, virama or nukta:
  "मसाला" became the two features "मस" and "ल", "कुकीज़" became "क", "क", "ज", so words
  that share consonants looked alike and the vowels that tell them apart were lost.
* One word reaches us spelled several ways depending on the keyboard: with or without
  a nukta (कुकीज़ / कुकीज, ज़ as one code point or two), with a chandrabindu or an
  anusvara (पाँच / पांच), with invisible joiners.

The tokenizer folds those variants (commerce.text.fold) before romanizing, and
DevanagariCountVectorsFeaturizer counts whole tokens with the vowel signs kept, for
any Devanagari that reaches it unromanized. Latin text is featurized exactly as before.
"""
from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from commerce.text import fold

_CONSONANTS = dict(zip(
    "क ख ग घ ङ च छ ज झ ञ ट ठ ड ढ ण त थ द ध न प फ ब भ म य र ल व श ष स ह".split(),
    "k kh g gh n ch chh j jh n t th d dh n t th d dh n p ph b bh m y r l v sh sh s h".split(),
    strict=True,
))
# Long and short vowels alike, as Hinglish is typed: "दिखाओ" is "dikhao", not "dikhaao".
_VOWELS = {"अ": "a", "आ": "a", "इ": "i", "ई": "i", "उ": "u", "ऊ": "u", "ऋ": "ri", "ए": "e",
           "ऐ": "ai", "ओ": "o", "औ": "au", "ऑ": "o", "ऍ": "e"}
_SIGNS = {"ा": "a", "ि": "i", "ी": "i", "ु": "u", "ू": "u", "ृ": "ri", "े": "e", "ै": "ai",
          "ो": "o", "ौ": "au", "ॉ": "o", "ॅ": "e"}
_CODAS = {"ं": "n", "ः": "h"}
_VIRAMA = "्"
_IGNORED = frozenset("\u093c\u200c\u200d")  # nukta, joiners

# Words whose Hinglish spelling the letters don't give: English loanwords customers
# write in Devanagari, and a few very common words typed one fixed way in Latin.
# Keys are folded (no nukta, anusvara for chandrabindu).
LOANWORDS = {
    "कार्ट": "cart", "ऑर्डर": "order", "आर्डर": "order", "पेमेंट": "payment",
    "चेकआउट": "checkout", "कैंसल": "cancel", "कैंसिल": "cancel", "प्लीज": "please",
    "डिलीट": "delete", "टोटल": "total", "मेन्यू": "menu", "मेनू": "menu",
    "प्रोडक्ट": "product", "प्रोडक्ट्स": "products", "रेट": "rate", "स्टेटस": "status",
    "ट्रैक": "track", "डिलीवरी": "delivery", "अपडेट": "update", "डिटेल्स": "details",
    "एड्रेस": "address", "कोड": "code", "क्वांटिटी": "quantity", "आइटम": "item",
    "थैंक्स": "thanks", "थैंक": "thank", "थैंक्यू": "thanku", "यू": "you", "ओके": "ok",
    "बाय": "bye", "हैलो": "hello", "हेलो": "hello", "हाय": "hi", "गुड": "good",
    "मॉर्निंग": "morning", "नाइट": "night", "हेल्प": "help", "सपोर्ट": "support",
    "कस्टमर": "customer", "केयर": "care", "यूपीआई": "upi", "गिफ्ट": "gift",
    "बॉक्स": "box", "कुकीज": "cookies", "टी": "tea", "ग्रीन": "green", "रीसेट": "reset",
    "चेंज": "change", "कन्फर्म": "confirm", "अकाउंट": "account", "शॉपिंग": "shopping",
    "में": "mein", "मैं": "main", "नहीं": "nahi", "चाहिए": "chahiye", "चाय": "chai",
    "तीन": "teen",
    # shop words customers type in Devanagari (policies, payments, the cart)
    "कैश": "cash", "रिटर्न": "return", "पॉलिसी": "policy", "ईमेल": "email", "आईडी": "id",
    "फोन": "phone", "नंबर": "number", "डिस्काउंट": "discount", "कूपन": "coupon",
    "ऑफर": "offer", "चार्ज": "charge", "फ्री": "free", "शिपिंग": "shipping",
    "प्राइस": "price", "स्टॉक": "stock", "रिफंड": "refund", "प्लेस": "place", "बुक": "book",
    "बिल": "bill", "टाइम": "time", "मैसेज": "message", "रिमूव": "remove", "ऐड": "add",
    "एड": "add", "कार्ड": "card", "फेल": "fail", "सॉरी": "sorry", "इंग्लिश": "english",
    "एजेंट": "agent", "इवनिंग": "evening", "कैटलॉग": "catalog", "मग": "mug", "कप": "cup",
}


def romanize(word: str) -> str:
    """The Latin spelling a Hinglish writer would give a (folded) Devanagari word.

    Each consonant carries an "a" unless a vowel sign or virama says otherwise; that
    "a" is silent at the end of a word ("घर" -> "ghar") and between two syllables that
    keep their vowels ("करना" -> "karna", "बदलना" -> "badalna"), except before or
    after a consonant cluster ("नमस्ते" -> "namaste", "धन्यवाद" -> "dhanyavad").
    Characters outside Devanagari are kept; Devanagari digits become 0-9.
    """
    if word in LOANWORDS:
        return LOANWORDS[word]
    syllables: list[list[Any]] = []  # [onset consonants, vowel ("" silent, None none), coda]
    inherent: list[bool] = []
    joined = False
    for char in word:
        if char in _IGNORED:
            continue
        if char in _CONSONANTS:
            if joined and syllables:
                syllables[-1][0].append(_CONSONANTS[char])
                syllables[-1][1], inherent[-1] = "a", True
            else:
                syllables.append([[_CONSONANTS[char]], "a", ""])
                inherent.append(True)
            joined = False
            continue
        joined = False
        if char == _VIRAMA and syllables:
            syllables[-1][1], inherent[-1], joined = None, False, True
        elif char in _SIGNS and syllables:
            syllables[-1][1], inherent[-1] = _SIGNS[char], False
        elif char in _CODAS and syllables:
            syllables[-1][2] += _CODAS[char]
        else:
            if char in _VOWELS:
                text = _VOWELS[char]
                syllables.append([[], text, ""])
            else:
                digit = unicodedata.digit(char, None)
                syllables.append([[char if digit is None else str(digit)], "", ""])
            inherent.append(False)
    last = len(syllables) - 1
    if last > 0 and inherent[last] and not syllables[last][2]:
        syllables[last][1] = ""
    for i in range(last - 1, 0, -1):
        onset, vowel, coda = syllables[i]
        following, previous = syllables[i + 1], syllables[i - 1]
        if (inherent[i] and not coda and len(onset) == 1 and following[1]
                and len(following[0]) == 1 and previous[1]):
            syllables[i][1] = ""
    return "".join("".join(onset) + (vowel or "") + coda for onset, vowel, coda in syllables)


def _has_devanagari(text: str) -> bool:
    return any("\u0900" <= char <= "\u097f" for char in text)


# Rasa caches what a component produced under a fingerprint of its name and config, not
# its code: a changed spelling rule would go unused until the data changed. The hash of
# this file in the config makes any change here a new fingerprint.
CODE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

# Word characters plus the whole Devanagari block (vowel signs, virama, nukta, anusvara),
# so a Hindi word is one feature; "what's" still gives "what" and "s" as before.
WORD_PATTERN = r"(?u)[\w\u0900-\u097f]+"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class DevanagariWhitespaceTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer whose Devanagari tokens carry their Hinglish spelling."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**WhitespaceTokenizer.get_default_config(), "code_version": CODE_VERSION}

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            if _has_devanagari(token.text):
                # The lemma too: CountVectorsFeaturizer counts lemmas (use_lemma), and
                # Token sets the lemma to the original text when it is created.
                token.text = token.lemma = romanize(fold(token.text))
        return tokens


def _whole_words(vectorizers: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    if parameters.get("analyzer") == "word":
        for vectorizer in vectorizers.values():
            vectorizer.token_pattern = WORD_PATTERN
    return vectorizers


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class DevanagariCountVectorsFeaturizer(CountVectorsFeaturizer):
    """CountVectorsFeaturizer whose word analyzer keeps Devanagari words whole."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**CountVectorsFeaturizer.get_default_config(), "code_version": CODE_VERSION}

    @classmethod
    def _create_shared_vocab_vectorizers(
        cls, parameters: dict[str, Any], vocabulary: Any | None = None
    ) -> dict[str, Any]:
        vectorizers = super()._create_shared_vocab_vectorizers(parameters, vocabulary)
        return _whole_words(vectorizers, parameters)

    @classmethod
    def _create_independent_vocab_vectorizers(
        cls, parameters: dict[str, Any], vocabulary: Any | None = None
    ) -> dict[str, Any]:
        vectorizers = super()._create_independent_vocab_vectorizers(parameters, vocabulary)
        return _whole_words(vectorizers, parameters)
