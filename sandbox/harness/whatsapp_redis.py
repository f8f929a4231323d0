"""A real Redis for the channel's shared state, or a skip that says why.

Import the fixture into a test module: `from sandbox.harness.whatsapp_redis import
redis_state_factory`. Keys live under a per-test prefix and are removed afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis.asyncio as redis

from channels.whatsapp.store import ChannelState, RedisStore

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_state_factory():
    probe = redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (redis.ConnectionError, OSError) as exc:
        await probe.close()
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); set TEST_REDIS_URL to test the "
                    "shared reply state")
    prefix = f"test-whatsapp-{uuid.uuid4().hex}:"
    states: list[ChannelState] = []

    def make() -> ChannelState:
        store = RedisStore(REDIS_URL, prefix=prefix)
        states.append(ChannelState(store))
        return states[-1]

    yield make
    for state in states:
        await state.close()
    keys = [key async for key in probe.scan_iter(match=prefix + "*")]
    if keys:
        await probe.delete(*keys)
    await probe.close()
