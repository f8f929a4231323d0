"""The catalog as NLU training data: every product name feeds the `product` features.

catalog.yml (or CATALOG_PATH) is the one place products are named. CatalogImporter reads
the project's files as Rasa's default importer does and adds, from the catalog, what
helps DIET spot a product in a message:

* a `product` lookup table with the Latin-script names and other names, without pack
  sizes ("Masala Chai 250 g" -> "masala chai"), their last words ("ceramic tea mug" ->
  "tea mug", "mug"; never a word that alone names no product, like "tea" or "set"), and
  plurals ("mugs");
* a `product` regex with the names in Devanagari. A lookup entry is wrapped in \\b...\\b,
  and Python's \\b does not see the end of a word that ends in a vowel sign ("मसाला"),
  so such entries would never match; the regex bounds words with look-arounds instead
  and accepts each consonant with or without its nukta ("कुकीज" and "कुकीज़");
* one training example for every name no example of data/ already names as a
  `product` entity. Lookups alone did not do: a model trained with "Kashmiri Kahwa"
  only in the lookup read "add 2 kashmiri kahwa" as `inform` (unknown words look like
  a name or an address) and tagged no product. The example is one of the project's own
  `add_to_cart` examples with one product, that product swapped for the new name
  (asking for a product by name is what customers do most with it; an example of
  another intent, such as "सिर्फ एक कश्मीरी कहवा रखो", taught the name to that intent
  instead). Latin names go into examples written in Latin letters, Devanagari ones
  into Devanagari examples. Which example is chosen depends only on the name, so the
  same catalog and data give the same training data.

No synonyms: an entity value that is exactly a name or other name is what
`Catalog.resolve` already maps to its product, folding included, so a synonym would add
nothing but replace the customer's own words (which replies quote back) and, for a name
two products share, pick one of them silently.

Config: `importers: [{name: nlu.catalog_data.CatalogImporter}]` in config.yml, so `rasa
train`, `rasa data validate` and `rasa test` all see the catalog. Nothing generated is
written to data/. Rasa fingerprints the training data it gets by content, so an edited
catalog (or a change here that changes the data) retrains the NLU.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from commerce.catalog import Catalog, load_catalog
from commerce.matching import GENERIC_WORDS
from commerce.text import FILLER_WORDS, fold, without_sizes, words

ENTITY = "product"
ADD_INTENT = "add_to_cart"
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_CONSONANT = re.compile(r"[\u0915-\u0939]")
_ANUSVARA = "\u0902"  # fold() turns a chandrabindu into it
_NUKTA = "\u093c"
# A Devanagari name starts and ends where no letter, sign or digit touches it (a danda,
# "।", may: it ends a sentence).
_BOUNDED = r"(?<![\w\u0900-\u0963\u0966-\u097f])({})(?![\w\u0900-\u0963\u0966-\u097f])"


class CatalogImporter(RasaFileImporter):
    """Rasa's file importer, with the catalog's product names added to the NLU data."""

    def get_nlu_data(self, language: str | None = "en") -> TrainingData:
        project = super().get_nlu_data(language)
        return project.merge(catalog_training_data(load_catalog(), project))


def catalog_training_data(catalog: Catalog, project: TrainingData | None = None) -> TrainingData:
    """The `product` lookup table and Devanagari regex for every product in `catalog`,
    and, given the project's data, examples for the names it does not show yet."""
    latin, devanagari = product_phrases(catalog)
    lookups: list[dict[str, Any]] = []
    regexes: list[dict[str, str]] = []
    if latin:
        lookups.append({"name": ENTITY, "elements": latin})
    if devanagari:
        regexes.append({"name": ENTITY, "pattern": devanagari_pattern(devanagari)})
    examples = new_name_examples(catalog, project) if project is not None else []
    return TrainingData(training_examples=examples, lookup_tables=lookups, regex_features=regexes)


def new_name_examples(catalog: Catalog, project: TrainingData) -> list[Message]:
    """One example per catalog name that no example of `project` names as a product."""
    known = {_key(entity["value"]) for example in project.training_examples
             for entity in _products(example)}
    templates = sorted(
        (example for example in project.training_examples
         if example.get("intent") == ADD_INTENT and len(_products(example)) == 1),
        key=lambda example: example.get("text"),
    )
    examples = []
    for product in catalog.products:
        for name in (product.name, *product.also_called):
            typed = " ".join(name_words(name))
            if not typed or _key(typed) in known:
                continue
            known.add(_key(typed))
            script = bool(_DEVANAGARI.search(typed))
            choices = [t for t in templates if _is_devanagari(t) == script]
            if choices:
                examples.append(_with_product(_pick(choices, typed), typed))
    return examples


def product_phrases(catalog: Catalog) -> tuple[list[str], list[str]]:
    """The phrases that name products, (Latin script, Devanagari), sorted, no repeats."""
    latin: set[str] = set()
    devanagari: set[str] = set()
    for name in catalog.names():
        typed = name_words(name)
        if not typed:
            continue
        if _DEVANAGARI.search(name):
            devanagari.update(_with_heads(typed))
        else:
            for phrase in _with_heads(typed):
                latin.update((phrase, _plural(phrase)))
    return sorted(latin), sorted(devanagari)


def devanagari_pattern(phrases: Iterable[str]) -> str:
    """One regex for `phrases`, longest first so "मसाला चाय" wins over "चाय"."""
    ordered = sorted(set(phrases), key=lambda phrase: (-len(phrase), phrase))
    return _BOUNDED.format("|".join(_spelling_variants(phrase) for phrase in ordered))


def name_words(name: str) -> list[str]:
    """A product name's words as customers type them: lowercased, folded, without pack sizes,
    counts or trailing filler ("Kulhad Set of 6" -> kulhad, set)."""
    kept = [token for token in without_sizes(words(name)) if not token.isdigit()]
    while kept and kept[-1] in FILLER_WORDS:
        kept.pop()
    return kept


def _with_heads(typed: list[str]) -> list[str]:
    # The whole name and its last one or two words: customers shorten from the front
    # ("wild forest honey" -> "honey"), and a word like "tea" alone names no product.
    phrases = [" ".join(typed)]
    for length in (2, 1):
        tail = typed[-length:]
        if length < len(typed) and not all(word in GENERIC_WORDS for word in tail):
            phrases.append(" ".join(tail))
    return phrases


def _products(example: Message) -> list[dict[str, Any]]:
    return [e for e in example.get("entities") or [] if e.get("entity") == ENTITY]


def _key(text: str) -> str:
    return " ".join(words(str(text)))


def _is_devanagari(example: Message) -> bool:
    return bool(_DEVANAGARI.search(str(_products(example)[0]["value"])))


def _pick(choices: list[Message], name: str) -> Message:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


def _with_product(template: Message, name: str) -> Message:
    """`template` with its product entity's words replaced by `name`."""
    text = template.get("text")
    product = _products(template)[0]
    start, end = product["start"], product["end"]
    shift = len(name) - (end - start)
    entities = []
    for entity in template.get("entities"):
        if entity is product:
            entities.append({**entity, "end": start + len(name), "value": name})
        elif entity["start"] >= end:
            entities.append({**entity, "start": entity["start"] + shift,
                             "end": entity["end"] + shift})
        else:
            entities.append(dict(entity))
    return Message.build(text[:start] + name + text[end:], template.get("intent"), entities)


def _plural(phrase: str) -> str:
    """English plural of the last word: "mugs", "boxes", "pastries" ("chais" is harmless)."""
    if phrase.endswith("s"):
        return phrase
    if phrase.endswith(("x", "z", "ch", "sh")):
        return phrase + "es"
    if phrase.endswith("y") and phrase[-2:-1] not in tuple("aeiou"):
        return phrase[:-1] + "ies"
    return phrase + "s"


def _spelling_variants(phrase: str) -> str:
    # Text reaches the RegexFeaturizer unfolded: each consonant may carry a nukta, an
    # anusvara may be typed as a chandrabindu, words may be apart by any spacing.
    parts = []
    for char in fold(phrase):
        if char == " ":
            parts.append(r"\s+")
        elif char == _ANUSVARA:
            parts.append("[\u0901\u0902]")
        elif _CONSONANT.fullmatch(char):
            parts.append(re.escape(char) + _NUKTA + "?")
        else:
            parts.append(re.escape(char))
    return "".join(parts)
