"""The stores behind several Rasa servers: settings from the environment, Rasa's own
classes, against the real PostgreSQL and Redis on loopback (skipped, with the reason,
where they are absent)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid

import pytest
import redis
import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.lock_store import LockStore as RasaLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.core.tracker_store import TrackerStore as RasaTrackerStore
from rasa.core.utils import _lock_store_is_multi_worker_compatible, number_of_sanic_workers
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from orders.reconcile import PassSkipped, Reconciler
from orders.store import REPO_ROOT, OrderStore
from sandbox.harness.services import fresh_database, scratch_redis
from server import stores
from server.cluster_lock import (
    LocalLock,
    PostgresAdvisoryLock,
    RedisLock,
    advisory_key,
    for_engine,
)
from server.stores import (
    DEFAULT_TRACKER_STORE_URL,
    LockStore,
    SharedRedisLockStore,
    StoreConfigError,
    TrackerStore,
    cluster_problems,
    tracker_store_url,
)

ENV = ("TRACKER_STORE_URL", "DATABASE_URL", "REDIS_URL", "SANIC_WORKERS")
PG = "postgresql://shop:secret@db.internal:5432/shop"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def postgres_url():
    with fresh_database() as url:
        yield url


@pytest.fixture
def redis_url():
    with scratch_redis() as url:
        yield url


def endpoint(name: str):
    return read_endpoint_config(str(REPO_ROOT / "endpoints.yml"), name)


def conversation(sender: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_listen"),
            UserUttered("2 masala chai", {"name": "add_to_cart", "confidence": 0.99}),
            SlotSet("cart", [{"sku": "masala-chai-250g", "quantity": 2}]),
            ActionExecuted("action_add_to_cart"),
            ActionExecuted("action_listen"),
        ],
    )


# -- settings ------------------------------------------------------------------------


def test_tracker_store_url_prefers_its_own_setting_then_a_postgresql_order_store():
    assert tracker_store_url({}) == DEFAULT_TRACKER_STORE_URL
    assert tracker_store_url({"DATABASE_URL": "sqlite:///var/orders.db"}) == (
        DEFAULT_TRACKER_STORE_URL
    )
    assert tracker_store_url({"DATABASE_URL": PG}) == PG
    assert tracker_store_url({"DATABASE_URL": PG, "TRACKER_STORE_URL": "sqlite:///t.db"}) == (
        "sqlite:///t.db"
    )
    assert DEFAULT_TRACKER_STORE_URL.endswith("/var/tracker.db")


def test_passwords_never_reach_messages():
    assert stores.redacted(PG) == "postgresql://shop:***@db.internal:5432/shop"
    assert stores.redacted("redis://:pw@cache:6380/2") == "redis://:***@cache:6380/2"
    assert stores.redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_one_process_needs_nothing_and_more_need_redis_and_postgresql():
    assert cluster_problems(1, 1, {}) == []
    problems = cluster_problems(2, 1, {})
    assert len(problems) == 3 and "REDIS_URL" in problems[0]
    assert "TRACKER_STORE_URL" in problems[1] and "DATABASE_URL" in problems[2]
    assert len(cluster_problems(1, 2, {"REDIS_URL": "redis://r"})) == 2
    ready = {"REDIS_URL": "redis://r:6379/0", "DATABASE_URL": PG}
    assert cluster_problems(3, 2, ready) == []
    split = {**ready, "TRACKER_STORE_URL": "sqlite:///var/tracker.db"}
    assert cluster_problems(2, 1, split) == [cluster_problems(2, 1, split)[0]]


def test_the_cluster_check_command_refuses_with_a_reason():
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    refused = subprocess.run(
        [sys.executable, "-m", "server.stores", "--servers", "2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2
    assert "refused:" in refused.stderr and "REDIS_URL" in refused.stderr
    env.update(REDIS_URL="redis://:pw@127.0.0.1:6379/0", DATABASE_URL=PG)
    accepted = subprocess.run(
        [sys.executable, "-m", "server.stores", "--servers", "2", "--workers", "2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "PostgreSQL advisory lock" in accepted.stdout
    assert "secret" not in accepted.stdout and ":pw@" not in accepted.stdout


# -- the tracker store -------------------------------------------------------------------


def test_endpoints_yml_names_the_factories():
    assert endpoint("tracker_store").type == "server.stores.TrackerStore"
    assert endpoint("lock_store").type == "server.stores.LockStore"


async def test_sqlite_by_default_through_rasas_own_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(stores, "DEFAULT_TRACKER_STORE_URL", f"sqlite:///{tmp_path}/v/t.db")
    store = RasaTrackerStore.create(endpoint("tracker_store"), Domain.empty())
    assert type(store) is SQLTrackerStore
    assert store.engine.dialect.name == "sqlite"
    assert (tmp_path / "v" / "t.db").exists()
    await store.save(conversation("sqlite-customer"))
    again = await store.retrieve("sqlite-customer")
    assert again.get_slot("cart") is None  # not in the empty domain, but the events are:
    assert [e.as_dict()["event"] for e in again.events] == [
        "action", "user", "slot", "action", "action"
    ]


def test_a_broken_setting_fails_loudly_instead_of_falling_back_to_memory(monkeypatch):
    # Rasa turns an ImportError from a custom tracker store into an in-memory store,
    # which would lose every conversation on restart without anyone noticing.
    monkeypatch.setenv("TRACKER_STORE_URL", "mysql+nosuchdriver://u:pw@h/db")
    with pytest.raises(StoreConfigError) as raised:
        RasaTrackerStore.create(endpoint("tracker_store"), Domain.empty())
    assert "pw" not in str(raised.value)


async def test_postgresql_trackers_are_shared_by_every_server(postgres_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)  # TRACKER_STORE_URL unset: same database
    first = TrackerStore(domain=Domain.empty())
    second = RasaTrackerStore.create(endpoint("tracker_store"), Domain.empty())
    assert type(first) is SQLTrackerStore and first.engine.dialect.name == "postgresql"

    sender = f"pg-{uuid.uuid4().hex[:8]}"
    tracker = conversation(sender)
    await first.save(tracker)
    seen = await second.retrieve(sender)
    assert [e.as_dict()["event"] for e in seen.events] == [
        e.as_dict()["event"] for e in tracker.events
    ]
    seen.update(UserUttered("checkout", {"name": "checkout", "confidence": 1.0}))
    await second.save(seen)
    assert len((await first.retrieve(sender)).events) == len(tracker.events) + 1
    with first.engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}
        ).scalar() == len(tracker.events) + 1


# -- the lock store ----------------------------------------------------------------------


def test_in_memory_locks_for_one_process():
    assert type(RasaLockStore.create(endpoint("lock_store"))) is InMemoryLockStore


def test_several_workers_without_redis_are_refused(monkeypatch):
    monkeypatch.setenv("SANIC_WORKERS", "2")
    # Rasa's own check lets any custom lock store type through ...
    assert number_of_sanic_workers(endpoint("lock_store")) == 2
    # ... so the factory is where in-memory locks for several workers are stopped.
    with pytest.raises(StoreConfigError, match="SANIC_WORKERS=2 needs .*REDIS_URL"):
        RasaLockStore.create(endpoint("lock_store"))


def test_redis_locks_are_rasas_redis_lock_store(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SANIC_WORKERS", "3")
    store = RasaLockStore.create(endpoint("lock_store"))
    assert isinstance(store, RedisLockStore) and isinstance(store, SharedRedisLockStore)
    assert _lock_store_is_multi_worker_compatible(store)
    assert number_of_sanic_workers(endpoint("lock_store")) == 3
    assert LockStore(endpoint_config=None).red.ping()


def test_an_unreachable_redis_stops_the_start(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")  # nothing on port 1
    with pytest.raises(StoreConfigError, match="Redis does not answer") as raised:
        LockStore(endpoint_config=None)
    assert "hunter2" not in str(raised.value)


async def test_one_conversation_is_served_in_ticket_order(redis_url):
    a, b = SharedRedisLockStore(redis_url), SharedRedisLockStore(redis_url)
    sender = f"lock-{uuid.uuid4().hex[:8]}"
    order: list[str] = []

    async def turn(store, name: str, hold: float) -> None:
        async with store.lock(sender, wait_time_in_seconds=0.01):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    first = asyncio.create_task(turn(a, "a", 0.3))
    await asyncio.sleep(0.05)
    await asyncio.gather(first, turn(b, "b", 0.0))
    assert order == ["a in", "a out", "b in", "b out"]
    assert a.get_lock(sender) is None  # the last one out removed it


def interleave(monkeypatch, between):
    """Run `between()` once, inside the next ticket issue's read-modify-write."""
    original = TicketLock.issue_ticket
    done: list[int] = []
    started: list[bool] = []

    def issue(self, lifetime):
        if not started:
            started.append(True)
            done.append(between())
        return original(self, lifetime)

    monkeypatch.setattr(TicketLock, "issue_ticket", issue)
    return done


def test_rasas_redis_lock_store_races_across_processes(redis_url, monkeypatch):
    """Why SharedRedisLockStore exists (RasaHQ/rasa#9213): two servers, one ticket."""
    sender = f"race-{uuid.uuid4().hex[:8]}"
    a, b = RedisLockStore(), RedisLockStore()
    a.red, b.red = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    other = interleave(monkeypatch, lambda: b.issue_ticket(sender))
    mine = a.issue_ticket(sender)
    assert (mine, other[0]) == (0, 0)  # both servers would run their turn at once
    a.red.delete(a.key_prefix + sender)


def test_concurrent_ticket_issues_never_collide(redis_url, monkeypatch):
    sender = f"race-{uuid.uuid4().hex[:8]}"
    a, b = SharedRedisLockStore(redis_url), SharedRedisLockStore(redis_url)
    other = interleave(monkeypatch, lambda: b.issue_ticket(sender))
    mine = a.issue_ticket(sender)
    assert sorted([mine, other[0]]) == [0, 1]
    # the first one out must not delete the lock the other is waiting on
    a.cleanup(sender, other[0])
    assert b.get_lock(sender) is not None
    b.cleanup(sender, mine)
    assert b.get_lock(sender) is None


def test_many_servers_issuing_at_once_get_distinct_tickets(redis_url):
    sender = f"storm-{uuid.uuid4().hex[:8]}"
    tickets: list[int] = []
    guard = threading.Lock()

    def server() -> None:
        store = SharedRedisLockStore(redis_url)  # a connection of its own, like a process
        for _ in range(20):
            ticket = store.issue_ticket(sender, lock_lifetime=60)
            with guard:
                tickets.append(ticket)

    threads = [threading.Thread(target=server) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(tickets) == list(range(120))
    SharedRedisLockStore(redis_url).red.delete("lock:" + sender)


# -- the reconciler's lock -----------------------------------------------------------------


def test_the_reconcilers_lock_follows_the_order_store(tmp_path, monkeypatch, postgres_url):
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'o.db'}")
    assert isinstance(for_engine(sqlite), LocalLock)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    assert isinstance(for_engine(sqlite), RedisLock)
    postgres = sa.create_engine(postgres_url)
    assert isinstance(for_engine(postgres), PostgresAdvisoryLock)  # even with Redis set
    postgres.dispose()
    assert advisory_key("commerce.reconcile") == advisory_key("commerce.reconcile")


async def test_a_postgresql_advisory_lock_has_one_holder(postgres_url):
    # Two engines: two connection pools, as in two Rasa servers.
    one, two = sa.create_engine(postgres_url), sa.create_engine(postgres_url)
    first, second = PostgresAdvisoryLock(one, "test-lock"), PostgresAdvisoryLock(two, "test-lock")
    async with first.hold() as held:
        assert held
        async with second.hold(wait=0) as also:
            assert not also
        waiter = asyncio.create_task(_take_after_wait(second))
        await asyncio.sleep(0.2)
    assert await waiter  # taken as soon as the first let go
    one.dispose()
    two.dispose()


async def test_a_dead_holders_advisory_lock_is_free_at_once(postgres_url):
    holder = subprocess.Popen(  # noqa: ASYNC220 (a second process is the point)
        [sys.executable, "-c", (
            "import sqlalchemy as sa, sys, time\n"
            "from server.cluster_lock import advisory_key\n"
            f"e = sa.create_engine({postgres_url!r}, future=True)\n"
            "c = e.connect()\n"
            "c.execute(sa.text('SELECT pg_advisory_lock(:k)'), {'k': advisory_key('dead')})\n"
            "c.commit(); print('held', flush=True); time.sleep(600)\n"
        )],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        engine = sa.create_engine(postgres_url)
        lock = PostgresAdvisoryLock(engine, "dead")
        async with lock.hold(wait=0) as held:
            assert not held
        holder.kill()
        holder.wait(timeout=10)
        async with lock.hold(wait=5) as held:
            assert held
        engine.dispose()
    finally:
        holder.kill()


async def test_a_redis_lock_has_one_holder_and_outlives_its_lease_while_held(redis_url):
    first = RedisLock(redis_url, "test-lock", lease=0.3)
    second = RedisLock(redis_url, "test-lock", lease=0.3)
    async with first.hold() as held:
        assert held
        await asyncio.sleep(0.8)  # longer than the lease: renewed meanwhile
        async with second.hold(wait=0) as also:
            assert not also
    async with second.hold(wait=0) as held:
        assert held
    await first.close()
    await second.close()


async def test_a_crashed_holders_redis_lock_expires(redis_url):
    lock = RedisLock(redis_url, "crashed", lease=0.3)
    await lock._redis.set(lock.key, "someone-gone", px=300)
    async with lock.hold(wait=0) as held:
        assert not held
    async with lock.hold(wait=2) as held:
        assert held
    await lock.close()


async def test_reconciler_passes_never_overlap_across_processes(postgres_url):
    stores_ = [OrderStore(postgres_url), OrderStore(postgres_url)]  # two servers' pools
    first, second = (
        Reconciler(s, None, None, None, interval=0.01, lock=for_engine(s.engine)) for s in stores_
    )
    async with first.lock.hold() as held:  # a pass of `first` is under way
        assert held
        with pytest.raises(PassSkipped, match="postgresql lock"):
            await second.run_once(wait=0)
        runner = asyncio.create_task(second.run_forever())  # skips quietly, keeps going
        await asyncio.sleep(0.1)
        assert not runner.done()
        runner.cancel()
    report = await second.run_once(wait=1)
    assert report.awaiting_confirmation == 0
    for store in stores_:
        store.dispose()


async def _take_after_wait(lock) -> bool:
    async with lock.hold(wait=5) as held:
        return held
