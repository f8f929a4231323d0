"""One HTTP exchange with a stand-in or with the bot, as the sandbox's request log shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exchange:
    service: str  # "graph" (to Meta), "razorpay" (to Razorpay), "rasa" (to the bot)
    method: str
    path: str
    status: int
    request: Any  # the JSON body, or None; never headers (they carry the secrets)
    response: Any


Observer = Callable[[Exchange], None]
