#!/usr/bin/env python3
"""Cross-validate the NLU data with folds that repeat from run to run.

`rasa test nlu --cross-validation` shuffles its folds with NumPy's global random
state and never seeds it, so two runs on the same data split it differently and
their scores wander by half a point. Seeding that state first makes a change in the
score mean a change in the data. Extra arguments go to `rasa test nlu` unchanged:

    python scripts/nlu_cross_validate.py --seed 42 -- --folds 5 --out results/nlu
"""
from __future__ import annotations

import argparse
import random
import sys

DEFAULT_SEED = 42


def seed_fold_split(seed: int) -> None:
    """Seed the random state that Rasa's fold split (sklearn StratifiedKFold) draws from."""
    import numpy

    random.seed(seed)
    numpy.random.seed(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed for the fold split (default {DEFAULT_SEED})")
    parser.add_argument("rasa_args", nargs="*", help="passed on to `rasa test nlu`")
    args = parser.parse_args(argv)

    from rasa.__main__ import main as rasa_main

    seed_fold_split(args.seed)
    sys.argv = ["rasa", "test", "nlu", "--nlu", "data", "--cross-validation", *args.rasa_args]
    try:
        rasa_main()
    except SystemExit as exit_:
        # Rasa exits with a number; anything else (a message) is a failure.
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
