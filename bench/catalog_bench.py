"""A merchant-size catalog: NLU training time with 500 products, and how often a product
a customer names is resolved to the right one, in one run.

    .venv/bin/python bench/catalog_bench.py [--products 500] [--seed 42] [--keep DIR]

1. Generates a catalog of `--products` products, the same for the same `--seed`: each
   name is an origin, a flavour and a kind of product from an Indian tea, snack and
   kitchen shop ("Kangra Cardamom Rusk 200 g"), every combination used once, with the
   Hinglish name as an other name where the flavour has one ("kangra elaichi rusk") and
   the Hindi name in Devanagari ("कांगड़ा इलायची रस्क").
2. Trains the NLU (`rasa train nlu` with config.yml and data/, into a temporary folder,
   with an empty cache of its own so nothing is reused) on the shipped catalog.yml and
   then on the generated catalog, and reports both wall times and their ratio. Only the
   NLU reads the catalog: `make train` adds the same dialogue-policy training to both.
   The generated catalog adds about three training examples per product (one per name
   the data does not show: nlu/catalog_data.py), so the ratio is mostly that growth.
3. Parses held-out phrasings with each model: per product, "add 2 <name>" (size left
   out), "<Hindi name> chahiye", "add 3 <name with a typo>" and "<other name> bhi daal
   do". A phrase that is word for word a training example (a generated example can be)
   is left out and counted. Each parse is resolved as action_add_to_cart
   resolves it (actions.common.mentions_in: the catalog scan of the text, then the NLU's
   product entities). Right: the intent is add_to_cart and the message resolves to
   exactly the product meant, with the quantity written. Also reported: the share the
   NLU's own product entities resolve right (what the catalog's lookup tables give the
   model, without the scan), phrases that resolve to several products (the bot would
   ask which; counted as not right) and the time one resolution takes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from commerce.catalog import Catalog, Mention, load_catalog  # noqa: E402
from nlu.catalog_data import name_words, new_name_examples, product_phrases  # noqa: E402

# (English, Hindi)
ORIGINS = [
    ("Assam", "असम"), ("Darjeeling", "दार्जिलिंग"), ("Nilgiri", "नीलगिरि"),
    ("Kangra", "कांगड़ा"), ("Munnar", "मुन्नार"), ("Kashmiri", "कश्मीरी"),
    ("Banarasi", "बनारसी"), ("Malabar", "मालाबार"), ("Coorg", "कूर्ग"),
    ("Rajasthani", "राजस्थानी"), ("Lucknowi", "लखनवी"), ("Bikaneri", "बीकानेरी"),
]
# (English, Hinglish or None when customers say it in English, Hindi)
FLAVOURS = [
    ("Ginger", "adrak", "अदरक"), ("Cardamom", "elaichi", "इलायची"),
    ("Saffron", "kesar", "केसर"), ("Rose", "gulab", "गुलाब"), ("Lemon", "nimbu", "नींबू"),
    ("Mint", "pudina", "पुदीना"), ("Cinnamon", "dalchini", "दालचीनी"),
    ("Jaggery", "gud", "गुड़"), ("Fennel", "saunf", "सौंफ"), ("Cumin", "jeera", "जीरा"),
    ("Coconut", "nariyal", "नारियल"), ("Almond", "badam", "बादाम"),
    ("Pistachio", "pista", "पिस्ता"), ("Tulsi", None, "तुलसी"), ("Mango", "aam", "आम"),
    ("Garlic", "lahsun", "लहसुन"),
]
# (English, Hinglish, Hindi, category, pack sizes, price range in rupees)
KINDS = [
    ("Chai", "chai", "चाय", "Tea", ("250 g", "500 g"), (180, 480)),
    ("Green Tea", "green tea", "ग्रीन टी", "Tea", ("100 g",), (160, 420)),
    ("Kahwa", "kahwa", "कहवा", "Tea", ("100 g",), (220, 520)),
    ("Cookies", "cookies", "कुकीज़", "Snacks", ("200 g",), (90, 220)),
    ("Rusk", "rusk", "रस्क", "Snacks", ("200 g", "400 g"), (60, 160)),
    ("Namkeen", "namkeen", "नमकीन", "Snacks", ("250 g",), (80, 200)),
    ("Ladoo", "laddu", "लड्डू", "Sweets", ("500 g",), (240, 640)),
    ("Barfi", "barfi", "बर्फी", "Sweets", ("500 g",), (260, 700)),
    ("Pickle", "achaar", "अचार", "Pantry", ("400 g",), (150, 320)),
    ("Honey", "shahad", "शहद", "Pantry", ("250 g", "500 g"), (199, 549)),
    ("Chutney", "chutney", "चटनी", "Pantry", ("200 g",), (110, 260)),
    ("Masala", "masala", "मसाला", "Spices", ("100 g",), (70, 240)),
]
KIND_ORDER = ("name", "hindi", "typo", "other")


def generate_catalog(products: int, seed: int) -> dict[str, Any]:
    """`products` products, each combination of origin, flavour and kind at most once."""
    combos = [(o, f, k) for o in ORIGINS for f in FLAVOURS for k in KINDS]
    if products > len(combos):
        raise SystemExit(f"at most {len(combos)} products can be generated")
    rng = random.Random(seed)
    entries = []
    for (origin, origin_hi), (flavour, hinglish, flavour_hi), kind in rng.sample(combos, products):
        english, kind_hinglish, kind_hi, category, sizes, (low, high) = kind
        size = rng.choice(sizes)
        name = f"{origin} {flavour} {english}"
        other = [f"{origin.lower()} {hinglish} {kind_hinglish}"] if hinglish else []
        entries.append({
            "sku": "-".join((name + " " + size).lower().replace(" g", "g").split()),
            "name": f"{name} {size}",
            "price": rng.randrange(low, high, 10) - 1,
            "category": category,
            "also_called": [*other, f"{origin_hi} {flavour_hi} {kind_hi}"],
        })
    return {"currency": "INR", "products": entries}


def typo(phrase: str, rng: random.Random) -> str:
    """One letter dropped from the longest word (one of five letters or more)."""
    words = phrase.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[longest]
    if len(word) < 5:
        return phrase
    cut = rng.randrange(1, len(word) - 1)
    words[longest] = word[:cut] + word[cut + 1:]
    return " ".join(words)


def phrasings(catalog: Catalog, seed: int) -> list[dict[str, Any]]:
    """Held-out messages naming each product, with the product and quantity meant."""
    cases = []
    for product in catalog.products:
        rng = random.Random(f"{seed}:{product.sku}")
        name = " ".join(name_words(product.name))
        hindi = next((n for n in product.also_called if _is_devanagari(n)), None)
        other = next((n for n in product.also_called if not _is_devanagari(n)), None)
        messages = {
            "name": (f"add 2 {name}", 2),
            "hindi": (f"{hindi} chahiye", None) if hindi else None,
            "typo": (f"add 3 {typo(name, rng)}", 3),
            "other": (f"{other} bhi daal do", None) if other else None,
        }
        for kind in KIND_ORDER:
            if messages[kind]:
                text, quantity = messages[kind]
                cases.append({"kind": kind, "text": text, "sku": product.sku,
                              "quantity": quantity})
    return cases


def _is_devanagari(text: str) -> bool:
    return any("\u0900" <= char <= "\u097f" for char in text)


def train_nlu(catalog_path: Path, out: Path, name: str) -> float:
    """Wall seconds of `rasa train nlu` on `catalog_path`, from an empty cache."""
    env = {**os.environ, "CATALOG_PATH": str(catalog_path),
           "RASA_CACHE_DIRECTORY": str(out / f"cache-{name}"),
           "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rasa", "train", "nlu", "--config", "config.yml", "--nlu", "data",
         "--out", str(out), "--fixed-model-name", name],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"training on {catalog_path} failed:\n{done.stderr[-3000:]}")
    return elapsed


def evaluate(model: Path, catalog_path: Path, seed: int) -> dict[str, Any]:
    """Parse every held-out phrasing and resolve it as action_add_to_cart does."""
    from rasa.core.agent import Agent
    from rasa_sdk import Tracker

    from actions.common import mentions_in

    os.environ["CATALOG_PATH"] = str(catalog_path)  # what actions.common.catalog() reads
    catalog = load_catalog(catalog_path)
    trained = training_texts(catalog)
    every_case = phrasings(catalog, seed)
    cases = [case for case in every_case if case["text"].lower() not in trained]
    agent = Agent.load(str(model))

    async def parse_all() -> list[dict]:
        return [await agent.parse_message(case["text"]) for case in cases]

    parses = asyncio.run(parse_all())
    right, nlu_right, intent_right, ambiguous = Counter(), Counter(), Counter(), Counter()
    per_kind = Counter(case["kind"] for case in cases)
    resolve_ms: list[float] = []
    misses: list[str] = []
    for case, parse in zip(cases, parses, strict=True):
        kind = case["kind"]
        tracker = Tracker("bench", {}, parse, [], False, None, {}, None)
        started = time.perf_counter()
        mentions = mentions_in(tracker)
        resolve_ms.append(1000 * (time.perf_counter() - started))
        is_add = parse["intent"]["name"] == "add_to_cart"
        intent_right[kind] += is_add
        ambiguous[kind] += any(m.match.is_ambiguous for m in mentions)
        if is_add and _resolves(mentions, case):
            right[kind] += 1
        elif len(misses) < 12:
            found = [(m.text, _sku(m.match)) for m in mentions]
            misses.append(f"{case['text']!r} -> {parse['intent']['name']}, {found}")
        entities = [e["value"] for e in parse["entities"] if e["entity"] == "product"]
        nlu_right[kind] += len(entities) == 1 and _sku(catalog.resolve(entities[0])) == case["sku"]
    total = len(cases)
    return {
        "products": len(catalog.products),
        "phrases": total,
        "left_out_as_trained": len(every_case) - total,
        "right": sum(right.values()) / total,
        "right_by_kind": {k: right[k] / per_kind[k] for k in KIND_ORDER if per_kind[k]},
        "phrases_by_kind": {k: per_kind[k] for k in KIND_ORDER if per_kind[k]},
        "intent_add_to_cart": sum(intent_right.values()) / total,
        "nlu_entity_right": sum(nlu_right.values()) / total,
        "nlu_entity_right_by_kind": {k: nlu_right[k] / per_kind[k]
                                     for k in KIND_ORDER if per_kind[k]},
        "ambiguous": sum(ambiguous.values()),
        "resolve_ms_p50": statistics.median(resolve_ms),
        "resolve_ms_max": max(resolve_ms),
        "misses": misses,
    }


def training_texts(catalog: Catalog) -> set[str]:
    """Every NLU training example's text, lowercased, with the catalog's generated ones."""
    from rasa.shared.importers.rasa import RasaFileImporter

    project = RasaFileImporter(training_data_paths=[str(REPO / "data")]).get_nlu_data()
    examples = [*project.training_examples, *new_name_examples(catalog, project)]
    return {str(example.get("text")).lower() for example in examples}


def _sku(match) -> str | None:
    return match.product.sku if match.found else None


def _resolves(mentions: list[Mention], case: dict[str, Any]) -> bool:
    return (len(mentions) == 1 and _sku(mentions[0].match) == case["sku"]
            and mentions[0].quantity == case["quantity"])


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    generated = workdir / "catalog-generated.yml"
    generated.write_text(yaml.safe_dump(generate_catalog(args.products, args.seed),
                                        allow_unicode=True, sort_keys=False), encoding="utf-8")
    shipped = REPO / "catalog.yml"
    load_before = os.getloadavg()
    print(f"Training on the shipped catalog, then on {args.products} products "
          f"(load {load_before[0]:.2f}) ...", file=sys.stderr, flush=True)
    seconds = {"shipped": train_nlu(shipped, workdir, "shipped"),
               "generated": train_nlu(generated, workdir, "generated")}
    load_after_training = os.getloadavg()
    print("Parsing and resolving the held-out phrasings ...", file=sys.stderr, flush=True)
    results = {
        "shipped": evaluate(workdir / "shipped.tar.gz", shipped, args.seed),
        "generated": evaluate(workdir / "generated.tar.gz", generated, args.seed),
    }
    latin, devanagari = product_phrases(load_catalog(generated))
    return {
        "machine": f"{os.cpu_count()} CPU {platform.machine()}, "
        f"Python {platform.python_version()}",
        "load_average_before": load_before,
        "load_average_after_training": load_after_training,
        "load_average_after": os.getloadavg(),
        "training_seconds": seconds,
        "training_ratio": seconds["generated"] / seconds["shipped"],
        "generated_lookup_phrases": {"latin": len(latin), "devanagari": len(devanagari)},
        **results,
    }


def report(results: dict[str, Any]) -> str:
    seconds = results["training_seconds"]
    lines = [
        f"{results['machine']}; load average {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after_training'][0]:.2f} after training, "
        f"{results['load_average_after'][0]:.2f} at the end",
        "",
        f"rasa train nlu: shipped catalog {seconds['shipped']:.0f} s, "
        f"{results['generated']['products']} products {seconds['generated']:.0f} s "
        f"(ratio {results['training_ratio']:.2f}); lookup phrases generated: "
        f"{results['generated_lookup_phrases']['latin']} Latin, "
        f"{results['generated_lookup_phrases']['devanagari']} Devanagari",
        "",
        "| catalog | phrases (left out as trained) | resolved right | " + " | ".join(KIND_ORDER)
        + " | intent add_to_cart | NLU entity alone | ambiguous | resolution p50 / max |",
        "| --- " * (7 + len(KIND_ORDER)) + "|",
    ]
    for label in ("shipped", "generated"):
        r = results[label]
        kinds = " | ".join(
            f"{r['right_by_kind'][k]:.1%} ({r['phrases_by_kind'][k]})" if k in r["right_by_kind"]
            else "-" for k in KIND_ORDER)
        lines.append(
            f"| {label} ({r['products']} products) | {r['phrases']} ({r['left_out_as_trained']}) "
            f"| {r['right']:.1%} | {kinds} "
            f"| {r['intent_add_to_cart']:.1%} | {r['nlu_entity_right']:.1%} | {r['ambiguous']} "
            f"| {r['resolve_ms_p50']:.1f} / {r['resolve_ms_max']:.0f} ms |")
    for label in ("shipped", "generated"):
        if results[label]["misses"]:
            lines += ["", f"Not right ({label}, first {len(results[label]['misses'])}):"]
            lines += [f"  {miss}" for miss in results[label]["misses"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path,
                        help="keep the generated catalog and models in this folder")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="catalog-bench-") as tmp:
            results = run(args, Path(tmp))
    print(report(results))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
