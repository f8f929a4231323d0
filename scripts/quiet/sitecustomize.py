"""Leaves third-party deprecation warnings out of `make run`'s console.

scripts/run.sh and scripts/run_cluster.sh put this folder on PYTHONPATH (unless
VERBOSE=1), so every Python process they start loads this module first. Python's own
filters can't do it: Sanic adds `filterwarnings("once", DeprecationWarning)` when
imported, ahead of any PYTHONWARNINGS. So the last step, printing, is where warnings
are dropped: a DeprecationWarning, PendingDeprecationWarning or FutureWarning raised
in code outside this repository (site-packages, the standard library, frozen
importlib) is not shown. Our own deprecations, and every other warning, still are.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
QUIET = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_show = warnings._showwarnmsg  # what warn() calls to print (from C too), after the filters


def ours(filename: str) -> bool:
    """Raised by this repository's code (not its .venv)? "<frozen ...>", "<string>": no."""
    if not Path(filename).is_absolute():
        return False
    try:
        relative = Path(filename).resolve().relative_to(REPO)
    except (OSError, ValueError):
        return False
    return not {".venv", "site-packages"} & set(relative.parts)


def _showwarnmsg(message: Any) -> None:
    if issubclass(message.category, QUIET) and not ours(str(message.filename)):
        return
    _show(message)


warnings._showwarnmsg = _showwarnmsg
