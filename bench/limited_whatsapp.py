"""Bench-only experiment: the WhatsApp channel with at most N turns in flight.

`bench/whatsapp_bench.py --max-turns-in-flight N` registers this class instead of
`channels.whatsapp.WhatsAppInput` (same name, same routes). Rasa 3.6 runs NLU and
policy inference synchronously on the event loop, so with 50 turns in flight an
acknowledgement waits behind many inference steps; with N it waits behind at most N.
Not part of the product.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sanic import Blueprint

from channels.whatsapp import OnNewMessage, WhatsAppInput


class LimitedWhatsAppInput(WhatsAppInput):
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        limit = asyncio.Semaphore(int(os.environ["BENCH_MAX_TURNS_IN_FLIGHT"]))

        async def limited(message: Any) -> None:
            async with limit:
                await on_new_message(message)

        return super().blueprint(limited)
