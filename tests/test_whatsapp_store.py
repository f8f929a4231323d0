"""The channel's state: reply tokens and numbered options, in memory and in a real
Redis. (De-duplication is the inbox's: tests/test_durable.py.)"""

from __future__ import annotations

import pytest

from channels.whatsapp.store import ChannelState, MemoryStore, RedisStore
from sandbox.harness.whatsapp_redis import redis_state_factory  # noqa: F401 (fixture)


@pytest.fixture(params=["memory", "redis"])
def state(request) -> ChannelState:
    if request.param == "memory":
        return ChannelState.in_memory()
    return request.getfixturevalue("redis_state_factory")()


async def test_payload_tokens_round_trip(state):
    await state.remember_payload("~p:abc", '/checkout{"note":"x"}')
    assert await state.payload_for("~p:abc") == '/checkout{"note":"x"}'
    assert await state.payload_for("~p:unknown") is None


async def test_numbered_options_are_read_once_and_per_customer(state):
    await state.remember_options("91111", ["/a", "/b"])
    await state.remember_options("92222", ["/c"])
    assert await state.take_options("91111") == ["/a", "/b"]
    assert await state.take_options("91111") == []
    assert await state.take_options("92222") == ["/c"]


async def test_memory_store_is_bounded_and_forgets_the_oldest():
    store = MemoryStore(max_entries=3)
    for key in "abcd":
        await store.set(key, key, ttl=60)
    assert await store.get("a") is None
    assert [await store.get(k) for k in "bcd"] == ["b", "c", "d"]


async def test_memory_store_entries_expire():
    store = MemoryStore()
    await store.set("k", "1", ttl=0)
    assert await store.get("k") is None
    await store.set("k", "2", ttl=60)
    assert await store.get("k") == "2"


async def test_an_unreachable_redis_degrades_instead_of_failing(caplog):
    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    state = ChannelState(store)
    try:
        assert await state.payload_for("~p:x") is None
        assert await state.take_options("91111") == []
        await state.remember_options("91111", ["/a"])
    finally:
        await state.close()
    assert "failed to resolve a reply token" in caplog.text


def test_redis_is_used_when_redis_url_is_set(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert ChannelState.from_env().backend == "memory"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    assert ChannelState.from_env().backend == "redis"
