"""Background work after the webhook has answered: in order per customer,
concurrently across customers.

Submitting is synchronous, so the order of submission (the order Meta delivered in)
is the order of handling. Each customer with pending work has one worker task; it
ends when that customer's queue is empty, so memory follows the active customers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Job = TypeVar("Job")


class PerSenderQueues(Generic[Job]):
    def __init__(self, handle: Callable[[Job], Awaitable[None]], max_pending: int) -> None:
        self._handle = handle
        self._max_pending = max_pending
        self._queues: dict[str, deque[Job]] = {}
        # Strong references: the loop keeps only weak ones to running tasks.
        self._workers: set[asyncio.Task[None]] = set()
        self.pending = 0

    def has_room_for(self, count: int) -> bool:
        return self.pending + count <= self._max_pending

    def submit(self, sender: str, job: Job) -> None:
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = deque()
            worker = asyncio.get_running_loop().create_task(self._work(sender, queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        queue.append(job)
        self.pending += 1

    async def _work(self, sender: str, queue: deque[Job]) -> None:
        while queue:
            job = queue.popleft()
            try:
                await self._handle(job)
            except Exception:
                logger.exception("WhatsApp message from %s could not be handled", sender)
            finally:
                self.pending -= 1
        # No await between the empty check and this: a new job can't slip in unseen.
        del self._queues[sender]

    async def drain(self, timeout: float) -> None:
        """Let queued work finish (e.g. at shutdown), then cancel what is left."""
        if not self._workers:
            return
        _, unfinished = await asyncio.wait(set(self._workers), timeout=timeout)
        for worker in unfinished:
            worker.cancel()
        if unfinished:
            logger.warning("Shutdown: %d WhatsApp sender queue(s) cancelled", len(unfinished))
            await asyncio.gather(*unfinished, return_exceptions=True)
