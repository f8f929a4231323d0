"""The pipeline's Devanagari components: Hindi spelt as Hinglish, whole Hindi words."""
from __future__ import annotations

import pytest
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.training_data.message import Message

from nlu.devanagari import (
    DevanagariCountVectorsFeaturizer,
    DevanagariWhitespaceTokenizer,
    romanize,
)


def tokens(text: str) -> list[tuple[str, int, int]]:
    tokenizer = DevanagariWhitespaceTokenizer(DevanagariWhitespaceTokenizer.get_default_config())
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message.build(text=text), "text")]


@pytest.mark.parametrize(
    ("word", "latin"),
    [
        ("दिखाओ", "dikhao"), ("हटाओ", "hatao"), ("मसाला", "masala"), ("घर", "ghar"),
        ("करना", "karna"), ("बदलना", "badalna"), ("समझना", "samajhna"),  # silent "a"
        ("नमस्ते", "namaste"), ("धन्यवाद", "dhanyavad"), ("क्या", "kya"),  # clusters
        ("शुक्रिया", "shukriya"), ("बंद", "band"), ("२०", "20"),
        ("कार्ट", "cart"), ("ऑर्डर", "order"),  # loanwords back to English
    ],
)
def test_romanize_spells_hindi_as_hinglish_is_typed(word, latin) -> None:
    assert romanize(word) == latin


def test_tokens_are_romanized_and_folded_but_keep_offsets() -> None:
    text = "पाँच कुकीज़ कार्ट से हटा दो"
    assert [t[0] for t in tokens(text)] == ["panch", "cookies", "cart", "se", "hata", "do"]
    # offsets still point into the message as typed, so entity values are its words
    assert [text[start:end] for _, start, end in tokens(text)][:2] == ["पाँच", "कुकीज़"]


def test_latin_tokens_unchanged() -> None:
    assert [t[0] for t in tokens("2 masala chai, please!")] == ["2", "masala", "chai", "please"]


def vocabulary(featurizer: type[CountVectorsFeaturizer], texts: list[str]) -> set[str]:
    config = {**CountVectorsFeaturizer.get_default_config(), "analyzer": "word"}
    vectorizer = featurizer._create_independent_vocab_vectorizers(config)["text"]
    vectorizer.fit(texts)
    return set(vectorizer.vocabulary_)


def test_word_features_keep_hindi_words_whole() -> None:
    texts = ["मसाला चाय चाहिए", "कुकीज हटा दो", "what's in my cart"]
    words = vocabulary(DevanagariCountVectorsFeaturizer, texts)
    assert {"मसाला", "चाय", "चाहिए", "कुकीज", "हटा", "दो"} <= words
    assert {"what", "s", "cart"} <= words  # English is split as before
    # Rasa's own pattern drops vowel signs: "मसाला" became "मस" and "ल"
    assert "मस" in vocabulary(CountVectorsFeaturizer, texts)


def test_count_vectors_count_the_hinglish_spelling(tmp_path) -> None:
    # CountVectorsFeaturizer counts token lemmas: they must be romanised too, or Hindi
    # shares no feature with Hinglish ("कार्ट दिखाओ" and "cart dikhao").
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    tokenizer = DevanagariWhitespaceTokenizer(DevanagariWhitespaceTokenizer.get_default_config())
    message = Message.build(text="कार्ट दिखाओ", intent="view_cart")
    tokenizer.process_training_data(TrainingData([message]))
    featurizer = CountVectorsFeaturizer.create(
        CountVectorsFeaturizer.get_default_config(), LocalModelStorage(tmp_path),
        Resource("count_vectors"), ExecutionContext(GraphSchema({}), "test"),
    )
    featurizer.train(TrainingData([message]))
    assert set(featurizer.vectorizers["text"].vocabulary_) == {"cart", "dikhao"}
