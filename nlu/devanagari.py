"""A tokenizer and a word featurizer that keep Devanagari words whole and comparable.

Rasa's WhitespaceTokenizer splits Hindi on spaces well enough, but two things go wrong
after it:

* CountVectorsFeaturizer (word analyzer) re-splits every token with the regex
  `\\b\\w+\\b`, and Python's `\\w` does not match Devanagari vowel signs, virama or nukta:
  "मसाला" became the two features "मस" and "ल", "कुकीज़" became "क", "क", "ज", so words
  that share consonants looked alike and the vowels that tell them apart were lost.
* One word reaches us spelled several ways depending on the keyboard: with or without
  a nukta (कुकीज़ / कुकीज, ज़ as one code point or two), with a chandrabindu or an
  anusvara (पाँच / पांच), with invisible joiners.

DevanagariWhitespaceTokenizer folds those variants in each token's text (see
commerce.text.fold; offsets stay those of the original message, so entity values are
the customer's own words), and DevanagariCountVectorsFeaturizer counts whole tokens
with the vowel signs kept. Latin text is featurized exactly as before.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from commerce.text import fold

# Word characters plus the whole Devanagari block (vowel signs, virama, nukta, anusvara),
# so a Hindi word is one feature; "what's" still gives "what" and "s" as before.
WORD_PATTERN = r"(?u)[\w\u0900-\u097f]+"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class DevanagariWhitespaceTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer whose tokens carry folded Devanagari spellings."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.text = fold(token.text)
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
