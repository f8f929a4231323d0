"""The channel's state: reply tokens and numbered options, in the order store's database
(SQLite, and PostgreSQL where it runs), in a real Redis and in memory. (De-duplication
is the inbox's: tests/test_durable.py.)"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from channels.whatsapp.store import ChannelState, DatabaseStore, MemoryStore, RedisStore
from sandbox.harness.services import fresh_database
from sandbox.harness.whatsapp_redis import redis_state_factory  # noqa: F401 (fixture)


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'orders.db'}", future=True)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine():
    with fresh_database() as url:
        engine = sa.create_engine(url, future=True)
        yield engine
        engine.dispose()


@pytest.fixture(params=["database", "postgresql", "memory", "redis"])
def state(request) -> ChannelState:
    if request.param == "database":
        return ChannelState(DatabaseStore(request.getfixturevalue("sqlite_engine")))
    if request.param == "postgresql":
        return ChannelState(DatabaseStore(request.getfixturevalue("postgres_engine")))
    if request.param == "memory":
        return ChannelState.in_memory()
    return request.getfixturevalue("redis_state_factory")()


async def test_payload_tokens_round_trip(state):
    await state.remember_payload("~p:abc", '/checkout{"note":"x"}')
    assert await state.payload_for("~p:abc") == '/checkout{"note":"x"}'
    assert await state.payload_for("~p:unknown") is None


async def test_numbered_options_are_per_customer_and_forgotten_once_answered(state):
    await state.remember_options("91111", ["/a", "/b"])
    await state.remember_options("92222", ["/c"])
    # Read at the start of a turn, kept until it is saved: a crashed turn reads them again.
    assert await state.options("91111") == ["/a", "/b"]
    assert await state.options("91111") == ["/a", "/b"]
    await state.forget_options("91111", ["/a", "/b"])
    assert await state.options("91111") == []
    assert await state.options("92222") == ["/c"]


async def test_forgetting_answered_options_keeps_newer_ones(state):
    await state.remember_options("91111", ["/a", "/b"])
    answered = await state.options("91111")
    await state.remember_options("91111", ["/x", "/y"])  # offered again meanwhile
    await state.forget_options("91111", answered)
    assert await state.options("91111") == ["/x", "/y"]


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
        assert await state.options("91111") == []
        await state.remember_options("91111", ["/a"])
        await state.forget_options("91111", ["/a"])
    finally:
        await state.close()
    assert "failed to resolve a reply token" in caplog.text
    assert "failed to forget numbered options" in caplog.text


async def test_database_entries_expire_and_are_purged(sqlite_engine, monkeypatch):
    monkeypatch.setattr("channels.whatsapp.store.PURGE_EVERY_WRITES", 2)
    store = DatabaseStore(sqlite_engine)
    await store.set("old", "1", ttl=0)
    assert await store.get("old") is None
    await store.set("new", "2", ttl=60)  # the second write purges what expired
    with sqlite_engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT key FROM whatsapp_reply_state")).scalars()
        assert list(keys) == ["new"]


async def test_what_one_process_remembers_another_reads_and_forgets(tmp_path):
    """The front door may send the list; the Rasa server reads the customer's "3"."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    sender, reader = (sa.create_engine(url, future=True) for _ in range(2))
    try:
        await ChannelState(DatabaseStore(sender)).remember_options("91111", ["/a", "/b"])
        state = ChannelState(DatabaseStore(reader))
        assert await state.options("91111") == ["/a", "/b"]
        await state.forget_options("91111", ["/a", "/b"])
        assert await ChannelState(DatabaseStore(sender)).options("91111") == []
    finally:
        sender.dispose()
        reader.dispose()


def test_redis_is_used_when_redis_url_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    assert ChannelState.from_env().backend == "database"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    assert ChannelState.from_env().backend == "redis"
