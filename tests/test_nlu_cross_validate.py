"""The fold split behind `make nlu-report` repeats for a seed and changes with it."""
from __future__ import annotations

import pytest
from rasa.nlu.test import generate_folds
from rasa.shared.nlu.training_data.loading import load_data

from scripts.nlu_cross_validate import seed_fold_split


@pytest.fixture(scope="module")
def training_data():
    return load_data("data/nlu")


def held_out_texts(training_data, seed: int) -> list[list[str]]:
    seed_fold_split(seed)
    return [
        sorted(example.get("text") for example in test.intent_examples)
        for _, test in generate_folds(5, training_data)
    ]


def test_same_seed_gives_the_same_folds(training_data) -> None:
    first = held_out_texts(training_data, 42)
    assert len(first) == 5
    assert first == held_out_texts(training_data, 42)


def test_another_seed_gives_other_folds(training_data) -> None:
    assert held_out_texts(training_data, 42) != held_out_texts(training_data, 7)


def test_every_example_is_held_out_exactly_once(training_data) -> None:
    held_out = [text for fold in held_out_texts(training_data, 42) for text in fold]
    assert sorted(held_out) == sorted(e.get("text") for e in training_data.intent_examples)
