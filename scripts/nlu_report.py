#!/usr/bin/env python3
"""Per-intent scores from an NLU cross-validation run.

Reads the folder written by

    rasa test nlu --nlu data --cross-validation --folds 5 --out results/nlu

and prints precision, recall, f1 and support for every intent (worst f1 first, with
the intents each one was mistaken for), then the overall intent accuracy and macro F1.
When the run also wrote its successes (`--successes`), every held-out example is
put in a language by how it is written (see `language_of`: `hi` for Devanagari,
`hi-Latn` for Hinglish in Latin letters, `en` for English and for Latin text that says
nothing either way, such as "ok" or a name) and the accuracy and macro F1 of each
language are printed too. Entity scores (DIETClassifier_report.json) are summarised
when present.

Exit status: 0 when intent accuracy >= the threshold (0.97 by default) and every
language's accuracy >= its threshold (0.95), 1 when one is below, 2 when the results
folder has no intent report.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}
DEFAULT_MIN_ACCURACY = 0.97
DEFAULT_MIN_LANGUAGE_ACCURACY = 0.95
LANGUAGES = ("en", "hi-Latn", "hi")

_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_LATIN_WORD = re.compile(r"[a-z]+")

# Hindi words as typed in Latin letters that English never uses: one of them makes a
# message Hinglish when the language detector (language/detect.py) finds it too short
# to tell ("haan", "shukriya", "chhodo yaar").
HINGLISH_MARKERS = frozenset(
    """
    haan han haanji ji nahi nahin nhi theek thik sahi galat bilkul accha acha achha shukriya
    dhanyavaad dhanyawad namaste namaskar alvida chalo chhodo ruko rehne mausam joke sunao
    dikhao batao bhejo karo hatao nikalo chahiye kya kaise kahan kab kitna kitne mera meri
    mujhe aap tum hai hain hu ho bhai bhaiya yaar didi madad samajh baat naam pata milte
    phir bas sab kuch aur bhi wala wali ek do teen char paanch daal dena dedo lena
    """.split()
)


def load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def per_label_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (label, scores)
        for label, scores in report.items()
        if label not in SUMMARY_KEYS and isinstance(scores, dict) and "support" in scores
    ]


def accuracy_of(report: dict[str, Any], results: Path) -> float:
    """Overall intent accuracy: the report's own figure, else counted from the errors."""
    if isinstance(report.get("accuracy"), (int, float)):
        return float(report["accuracy"])
    # sklearn leaves "accuracy" out (and adds "micro avg") when predictions contain
    # labels that are not targets; micro-averaged recall is then the accuracy.
    micro = report.get("micro avg")
    if isinstance(micro, dict) and "recall" in micro:
        return float(micro["recall"])
    total = sum(int(scores["support"]) for _, scores in per_label_rows(report))
    errors_file = results / "intent_errors.json"
    errors = len(load_json(errors_file)) if errors_file.exists() else 0
    return (total - errors) / total if total else 0.0


def confusions(scores: dict[str, Any], label: str) -> str:
    confused = scores.get("confused_with") or {}
    others = [(name, count) for name, count in confused.items() if name != label and count]
    others.sort(key=lambda item: -item[1])
    return ", ".join(f"{name} ({count})" for name, count in others[:3])


def intent_table(report: dict[str, Any]) -> list[str]:
    rows = per_label_rows(report)
    rows.sort(key=lambda row: (row[1].get("f1-score", 0.0), row[0]))
    width = max([len("intent")] + [len(label) for label, _ in rows])
    header = (
        f"{'intent':<{width}}  {'precision':>9}  {'recall':>6}  {'f1':>5}  {'support':>7}"
        "  confused with"
    )
    lines = [header, "-" * len(header)]
    for label, scores in rows:
        lines.append(
            f"{label:<{width}}  {scores.get('precision', 0.0):>9.3f}  "
            f"{scores.get('recall', 0.0):>6.3f}  {scores.get('f1-score', 0.0):>5.3f}  "
            f"{int(scores.get('support', 0)):>7d}  {confusions(scores, label)}"
        )
    for summary in ("macro avg", "weighted avg"):
        scores = report.get(summary)
        if isinstance(scores, dict):
            lines.append(
                f"{summary:<{width}}  {scores.get('precision', 0.0):>9.3f}  "
                f"{scores.get('recall', 0.0):>6.3f}  {scores.get('f1-score', 0.0):>5.3f}  "
                f"{int(scores.get('support', 0)):>7d}"
            )
    return lines


def language_of(text: str) -> str:
    """`hi` for Devanagari, `hi-Latn` for Hinglish, `en` for the rest of Latin text."""
    if _DEVANAGARI.search(text):
        return "hi"
    try:  # the bot's own detector, when it is there
        from language.detect import detect
    except ImportError:
        detect = None
    if detect is not None:
        detected = detect(text)
        if detected in ("en", "hi-Latn"):
            return detected
    words = _LATIN_WORD.findall(text.lower())
    return "hi-Latn" if any(word in HINGLISH_MARKERS for word in words) else "en"


def predictions(results: Path) -> list[tuple[str, str, str]]:
    """(text, intent, predicted intent) of every held-out example, or [] without successes."""
    successes = results / "intent_successes.json"
    if not successes.exists():
        return []
    rows = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = results / name
        for item in load_json(path) if path.exists() else []:
            predicted = (item.get("intent_prediction") or {}).get("name") or ""
            rows.append((item.get("text") or "", item.get("intent") or "", predicted))
    return rows


def macro_f1(rows: list[tuple[str, str, str]]) -> float:
    """Mean F1 over the intents that are targets in `rows` (as sklearn's macro average)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for _, intent, predicted in rows:
        if intent == predicted:
            counts[intent][0] += 1
        else:
            counts[intent][2] += 1
            counts[predicted][1] += 1
    scores = []
    for intent in {intent for _, intent, _ in rows}:
        tp, fp, fn = counts[intent]
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def language_scores(rows: list[tuple[str, str, str]]) -> dict[str, tuple[int, float, float]]:
    """Per language: (examples, accuracy, macro F1)."""
    by_language: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for row in rows:
        by_language[language_of(row[0])].append(row)
    return {
        language: (
            len(by_language[language]),
            sum(intent == predicted for _, intent, predicted in by_language[language])
            / len(by_language[language]),
            macro_f1(by_language[language]),
        )
        for language in LANGUAGES
        if by_language[language]
    }


def language_table(scores: dict[str, tuple[int, float, float]], minimum: float) -> list[str]:
    lines = ["", "Per language (held-out examples, by how they are written):",
             f"  {'language':<8}  {'examples':>8}  {'accuracy':>8}  {'macro f1':>8}"]
    for language, (count, accuracy, f1) in scores.items():
        verdict = "OK" if accuracy >= minimum else "TOO LOW"
        lines.append(f"  {language:<8}  {count:>8d}  {accuracy:>8.4f}  {f1:>8.4f}  {verdict}")
    return lines


def entity_summary(results: Path) -> list[str]:
    path = results / "DIETClassifier_report.json"
    if not path.exists():
        return []
    report = load_json(path)
    lines = ["", "Entities (DIETClassifier):"]
    for label, scores in sorted(per_label_rows(report)):
        lines.append(
            f"  {label:<14} precision {scores.get('precision', 0.0):.3f}  "
            f"recall {scores.get('recall', 0.0):.3f}  f1 {scores.get('f1-score', 0.0):.3f}  "
            f"support {int(scores.get('support', 0))}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default="results/nlu", type=Path,
                        help="folder written by `rasa test nlu --cross-validation --out`")
    parser.add_argument("--min-accuracy", type=float, default=DEFAULT_MIN_ACCURACY,
                        help=f"fail below this intent accuracy (default {DEFAULT_MIN_ACCURACY})")
    parser.add_argument("--min-language-accuracy", type=float,
                        default=DEFAULT_MIN_LANGUAGE_ACCURACY,
                        help="fail when one language's intent accuracy is below this "
                             f"(default {DEFAULT_MIN_LANGUAGE_ACCURACY})")
    args = parser.parse_args(argv)

    report_file = args.results / "intent_report.json"
    if not report_file.exists():
        print(f"No intent report at {report_file}. Run: rasa test nlu --nlu data "
              f"--cross-validation --folds 5 --out {args.results}", file=sys.stderr)
        return 2
    report = load_json(report_file)

    print("\n".join(intent_table(report)))
    print("\n".join(entity_summary(args.results)))
    accuracy = accuracy_of(report, args.results)
    ok = accuracy >= args.min_accuracy
    scores = language_scores(predictions(args.results))
    if scores:
        print("\n".join(language_table(scores, args.min_language_accuracy)))
        ok = ok and all(acc >= args.min_language_accuracy for _, acc, _ in scores.values())
    else:
        print("\nNo per-language scores: run the cross-validation with --successes.")
    macro = report.get("macro avg") or {}
    verdict = "OK" if accuracy >= args.min_accuracy else "TOO LOW"
    print(f"\nIntent accuracy: {accuracy:.4f} (minimum {args.min_accuracy:.2f}) {verdict}")
    print(f"Intent macro F1: {float(macro.get('f1-score', 0.0)):.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
