"""The catalog is the NLU's source of product names (nlu/catalog_data.py).

The unit tests turn a small catalog into the `product` lookup table, Devanagari regex and
examples for names the data does not show, read it through config.yml's importer as
`rasa train` does, and check that `make train` retrains after a catalog edit. The last
test trains an NLU model on a catalog with a product the project never had and parses
messages that name it (`rasa train nlu` only: the dialogue policies do not read the
catalog; and DIET for 30 of config.yml's 100 epochs, which still shows the new name
learnt; with 100 it took 15 minutes on two cores busy with other trainings, load 4-10).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.importers.rasa import RasaFileImporter

from commerce.catalog import load_catalog
from nlu.catalog_data import catalog_training_data, new_name_examples, product_phrases

ROOT = Path(__file__).resolve().parent.parent
RASA = Path(sys.executable).parent / "rasa"
DIET_EPOCHS = 30  # of config.yml's 100

SMALL_CATALOG = """\
products:
  - sku: masala-chai-250g
    name: Masala Chai 250 g
    price: 250
    category: Tea
    also_called: [chai, मसाला चाय]
  - sku: kulhad-set-6
    name: Kulhad Set of 6
    price: 349
    category: Teaware
    also_called: [kulhar, कुल्हड़ सेट]
  - sku: wild-honey-250g
    name: Wild Forest Honey 250g
    price: 275
    category: Spices & Honey
    also_called: [shahad, जंगली शहद]
  - sku: gift-box
    name: Festive Tea Gift Box
    price: 999
    category: Gifts
    also_called: [hamper, पाँच मसाले]
"""

NEW_PRODUCT = """\
  - sku: kashmiri-kahwa-100g
    name: Kashmiri Kahwa 100 g
    price: 390
    category: Tea
    also_called: [kehwa, कश्मीरी कहवा]
"""


def write_catalog(folder: Path, text: str = SMALL_CATALOG) -> Path:
    path = folder / "catalog.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_names_become_lookup_phrases_without_sizes_with_heads_and_plurals(tmp_path):
    latin, devanagari = product_phrases(load_catalog(write_catalog(tmp_path)))

    assert latin == sorted([
        "masala chai", "masala chais", "chai", "chais",
        # "of 6" is no part of the name a customer types; "set" alone names nothing
        "kulhad set", "kulhad sets", "kulhar", "kulhars",
        "wild forest honey", "wild forest honeys", "forest honey", "forest honeys",
        "honey", "honeys", "shahad", "shahads",
        "festive tea gift box", "festive tea gift boxes", "gift box", "gift boxes",
        "hamper", "hampers",
    ])
    # Devanagari names, folded (no nukta, anusvara for chandrabindu), with their heads
    assert devanagari == sorted(["मसाला चाय", "कुल्हड सेट", "जंगली शहद", "शहद", "पांच मसाले", "मसाले"])


def test_the_devanagari_regex_accepts_spelling_variants_and_whole_words_only(tmp_path):
    data = catalog_training_data(load_catalog(write_catalog(tmp_path)))
    [regex] = data.regex_features
    assert regex["name"] == "product"
    pattern = re.compile(regex["pattern"])

    def found(text: str) -> list[str]:
        return [match.group(0) for match in pattern.finditer(text)]

    assert found("मुझे दो मसाला चाय चाहिए") == ["मसाला चाय"]  # the longest name wins
    assert found("कुल्हड़ सेट भेजो") == ["कुल्हड़ सेट"]  # with the nukta
    assert found("कुल्हड सेट भेजो") == ["कुल्हड सेट"]  # and without
    assert found("पाँच मसाले") == ["पाँच मसाले"] and found("पांच  मसाले") == ["पांच  मसाले"]
    assert found("शहदवाला") == [] and found("जंगली शहद।") == ["जंगली शहद"]


def test_the_importer_adds_the_catalog_to_the_project_data(tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_PATH", str(write_catalog(tmp_path, SMALL_CATALOG + NEW_PRODUCT)))
    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data")]
    )
    nlu = importer.get_nlu_data()

    tables = {table["name"]: table["elements"] for table in nlu.lookup_tables}
    assert "kashmiri kahwa" in tables["product"] and "kehwa" in tables["product"]
    assert any(e.get("value") == "kashmiri kahwa" for example in nlu.training_examples
               for e in example.get("entities") or [])
    # every product name comes from the catalog: data/ names none by hand
    assert [table["name"] for table in nlu.lookup_tables].count("product") == 1
    assert "masala tea" not in tables["product"]  # an other name only the shipped catalog has
    assert "quantity" in tables  # data/nlu/lookups.yml is still read
    assert any(example.get("intent") == "add_to_cart" for example in nlu.training_examples)
    assert importer.get_stories().story_steps  # and the stories, as Rasa's own importer


def test_names_the_data_does_not_show_get_one_example_each(tmp_path):
    project = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data" / "nlu")]
    ).get_nlu_data()
    catalog = load_catalog(write_catalog(tmp_path, SMALL_CATALOG + NEW_PRODUCT))
    examples = {}
    for example in new_name_examples(catalog, project):
        [product] = [e for e in example.get("entities") if e["entity"] == "product"]
        examples[product["value"]] = example
        for entity in example.get("entities"):  # offsets still point at each entity's words
            assert example.get("text")[entity["start"]:entity["end"]] == entity["value"]

    # "masala chai", "kulhad set", "shahad", "मसाला चाय", ... are in data/ already
    assert sorted(examples) == ["kashmiri kahwa", "kehwa", "कश्मीरी कहवा", "पांच मसाले"]
    assert examples["kashmiri kahwa"].get("intent") == "add_to_cart"  # a product's own name
    # a Devanagari name goes into an example written in Devanagari
    assert not re.search("[a-z]", examples["कश्मीरी कहवा"].get("text"))
    again = [example.get("text") for example in new_name_examples(catalog, project)]
    assert again == [example.get("text") for example in examples.values()]  # same data


def test_a_catalog_edit_changes_the_training_data_fingerprint(tmp_path):
    before = catalog_training_data(load_catalog(write_catalog(tmp_path))).fingerprint()
    after = catalog_training_data(
        load_catalog(write_catalog(tmp_path, SMALL_CATALOG + NEW_PRODUCT))
    ).fingerprint()
    assert before != after


def make_train_commands(model: Path, catalog: Path) -> str:
    """What `make train` would run (make -n), for a model file and a catalog."""
    return subprocess.run(
        ["make", "-n", "train", f"MODEL={model}"],
        cwd=ROOT, env={**os.environ, "CATALOG_PATH": str(catalog)},
        capture_output=True, text=True, check=True,
    ).stdout


def test_make_train_retrains_after_a_catalog_edit(tmp_path):
    catalog = write_catalog(tmp_path)
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    newer = time.time() + 3600  # newer than every training input in the tree
    os.utime(model, (newer, newer))
    assert "rasa train" not in make_train_commands(model, catalog)

    os.utime(catalog, (newer + 60, newer + 60))  # the catalog edited after the model
    commands = make_train_commands(model, catalog)
    assert f"CATALOG_PATH={catalog} .venv/bin/rasa train" in commands


# --- a product the project never had, recognised after training -------------------------------


def few_epochs_config(folder: Path) -> Path:
    """config.yml with DIET trained for DIET_EPOCHS: the test below is about the catalog
    reaching the NLU's training data, not about the classifier's best accuracy."""
    config = yaml.safe_load((ROOT / "config.yml").read_text("utf-8"))
    [diet] = [c for c in config["pipeline"] if c["name"] == "DIETClassifier"]
    diet["epochs"] = DIET_EPOCHS
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_a_new_product_is_recognised_after_training(tmp_path):
    catalog = write_catalog(tmp_path, (ROOT / "catalog.yml").read_text("utf-8") + NEW_PRODUCT)
    env = {**os.environ, "CATALOG_PATH": str(catalog),
           "RASA_CACHE_DIRECTORY": str(tmp_path / "cache"), "RASA_TELEMETRY_ENABLED": "false"}
    subprocess.run(
        [str(RASA), "train", "nlu", "--config", str(few_epochs_config(tmp_path)), "--nlu", "data",
         "--out", str(tmp_path), "--fixed-model-name", "nlu"],
        cwd=ROOT, env=env, capture_output=True, check=True,
    )

    from rasa.core.agent import Agent

    agent = Agent.load(str(tmp_path / "nlu.tar.gz"))

    async def parse(text: str) -> dict:
        return await agent.parse_message(text)

    messages = [("add 2 kashmiri kahwa", "kashmiri kahwa"),
                ("कश्मीरी कहवा भी डाल दो", "कश्मीरी कहवा")]
    # learnt, not recalled: neither message is one the model was trained on
    project = RasaFileImporter(training_data_paths=[str(ROOT / "data")]).get_nlu_data()
    trained = [example.get("text") for example in
               project.training_examples + new_name_examples(load_catalog(catalog), project)]
    assert not {text for text, _ in messages} & set(trained)
    for text, name in messages:
        result = asyncio.run(parse(text))
        assert result["intent"]["name"] == "add_to_cart", (text, result["intent"])
        products = [e["value"] for e in result["entities"] if e["entity"] == "product"]
        assert products == [name], (text, result["entities"])
