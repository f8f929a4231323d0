#!/usr/bin/env python3
"""Per-intent scores from an NLU cross-validation run.

Reads the folder written by

    rasa test nlu --nlu data --cross-validation --folds 5 --out results/nlu

and prints precision, recall, f1 and support for every intent (worst f1 first, with
the intents each one was mistaken for), then the overall intent accuracy. Entity
scores (DIETClassifier_report.json) are summarised when present.

Exit status: 0 when intent accuracy >= the threshold (0.95 by default), 1 when it is
below, 2 when the results folder has no intent report.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}
DEFAULT_MIN_ACCURACY = 0.95


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
    verdict = "OK" if accuracy >= args.min_accuracy else "TOO LOW"
    print(f"\nIntent accuracy: {accuracy:.4f} (minimum {args.min_accuracy:.2f}) {verdict}")
    return 0 if accuracy >= args.min_accuracy else 1


if __name__ == "__main__":
    sys.exit(main())
