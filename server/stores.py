"""Rasa's own tracker store and lock store, configured from the environment.

endpoints.yml names the two classes below by module path; Rasa instantiates them as
`TrackerStore(host=..., domain=..., event_broker=..., **kwargs)` and
`LockStore(endpoint_config=...)`, and gets back instances of Rasa's own stores:

- tracker store: Rasa's `SQLTrackerStore` on `TRACKER_STORE_URL`. When that is unset:
  on `DATABASE_URL` if it is PostgreSQL (the order store's database; Rasa's table is
  `events`), else SQLite `var/tracker.db`.
- lock store: Rasa's `RedisLockStore` on `REDIS_URL` (as `SharedRedisLockStore`, which
  makes its ticket updates atomic across processes), else Rasa's `InMemoryLockStore`,
  which is only right for a single Rasa process.

Why not `${VAR}` in endpoints.yml: Rasa fails on unset variables, and the SQLite
default must keep working with nothing set.

Rasa's multi-worker check (`rasa.core.utils.number_of_sanic_workers`) only sees the
endpoint configuration, and any custom lock store type passes it. So the check that
matters is made here: SANIC_WORKERS > 1 without REDIS_URL refuses to start.

`python -m server.stores --servers N --workers W` prints the configuration (no
secrets) and exits 2 when it cannot carry N Rasa servers of W Sanic workers each.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, RedisLockStore
from rasa.core.lock_store import LockStore as RasaLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.exceptions import RasaException

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACKER_STORE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'tracker.db'}"
T = TypeVar("T")


class StoreConfigError(RasaException):
    """The environment asks for something these stores cannot do; the message says what.

    Not an ImportError or AttributeError on purpose: Rasa turns those, raised while it
    builds a custom store, into a silent fall-back to the in-memory tracker store.
    """


# -- settings ------------------------------------------------------------------------


def is_postgresql(url: str | None) -> bool:
    if not url:
        return False
    try:
        return sa.engine.make_url(url).get_backend_name() == "postgresql"
    except sa.exc.ArgumentError:
        return False


def redacted(url: str) -> str:
    """`url` with its password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username else ":***@"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=user + host))


def tracker_store_url(env: Mapping[str, str] = os.environ) -> str:
    """TRACKER_STORE_URL, else DATABASE_URL when it is PostgreSQL, else SQLite under var/."""
    explicit = env.get("TRACKER_STORE_URL", "").strip()
    if explicit:
        return explicit
    database = env.get("DATABASE_URL", "").strip()
    if is_postgresql(database):
        return database
    return DEFAULT_TRACKER_STORE_URL


def redis_url(env: Mapping[str, str] = os.environ) -> str | None:
    return env.get("REDIS_URL", "").strip() or None


def sanic_workers(env: Mapping[str, str] = os.environ) -> int:
    """SANIC_WORKERS as Rasa reads it (not a number or < 1: one worker)."""
    try:
        return max(int(env.get("SANIC_WORKERS", "1")), 1)
    except ValueError:
        return 1


# -- the tracker store -----------------------------------------------------------------


def create_tracker_store(
    domain: Any = None, event_broker: Any = None, **kwargs: Any
) -> SQLTrackerStore:
    url = tracker_store_url()
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        store = SQLTrackerStore(domain=domain, host=url, event_broker=event_broker, **kwargs)
    except (ImportError, AttributeError, sa.exc.ArgumentError) as exc:
        raise StoreConfigError(f"tracker store {redacted(url)} unusable: {exc}") from exc
    logger.info("Tracker store: Rasa's SQLTrackerStore on %s", redacted(url))
    return store


class TrackerStore:
    """`tracker_store: {type: server.stores.TrackerStore}`: builds Rasa's SQLTrackerStore.

    `__new__` returns the SQLTrackerStore itself, so Rasa works with its own class.
    """

    def __new__(  # type: ignore[misc]
        cls,
        host: str | None = None,
        domain: Any = None,
        event_broker: Any = None,
        **kwargs: Any,
    ) -> SQLTrackerStore:
        if host:
            logger.warning(
                "tracker_store url in endpoints.yml is ignored: the tracker store's "
                "database comes from TRACKER_STORE_URL (or DATABASE_URL)"
            )
        return create_tracker_store(domain, event_broker, **kwargs)


# -- the lock store --------------------------------------------------------------------


class SharedRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore, its read-modify-write of a conversation's lock made atomic.

    Rasa's version reads the ticket lock, changes it in Python and writes it back. Two
    Rasa servers receiving messages of one customer at the same moment can then both
    get ticket 0 and run the two turns at once, or one can delete the lock another is
    waiting on (which drops that message with a LockError): RasaHQ/rasa#9213; the fix
    in RasaHQ/rasa#11256 was reverted. Here every change is a Redis transaction
    (WATCH / MULTI / EXEC, retried when another process got in between). Key layout,
    tickets and waiting are Rasa's own; `isinstance(store, RedisLockStore)` holds.
    """

    def __init__(self, url: str, socket_timeout: float = 10.0, **kwargs: Any) -> None:
        import redis

        super().__init__(socket_timeout=socket_timeout, **kwargs)
        # from_url understands every REDIS_URL form (rediss://, passwords, /db).
        self.red = redis.StrictRedis.from_url(url, socket_timeout=socket_timeout)
        try:
            self.red.ping()
        except redis.RedisError as exc:
            raise StoreConfigError(
                f"REDIS_URL {redacted(url)}: Redis does not answer ({exc})"
            ) from exc

    def _change(
        self, conversation_id: str, change: Callable[[TicketLock], T]
    ) -> T:
        """Apply `change` to the conversation's lock (a new one if none is stored) and
        store the result as one transaction: saved while it holds tickets, else deleted.
        """
        import redis

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = (
                        TicketLock.from_dict(json.loads(raw))
                        if raw
                        else self.create_lock(conversation_id)
                    )
                    result = change(lock)
                    pipe.multi()
                    if lock.is_someone_waiting():
                        pipe.set(key, lock.dumps())
                    elif raw is not None:
                        pipe.delete(key)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another process changed the lock first: read it again

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # Rasa finishes serving, then deletes the lock if nobody waits: two steps another
        # process can come between. `_change` deletes a lock left without tickets itself.
        self.finish_serving(conversation_id, ticket_number)


def create_lock_store(**kwargs: Any) -> RasaLockStore:
    url = redis_url()
    if url:
        store = SharedRedisLockStore(url, **kwargs)
        logger.info("Lock store: Rasa's RedisLockStore on %s", redacted(url))
        return store
    workers = sanic_workers()
    if workers > 1:
        raise StoreConfigError(
            f"SANIC_WORKERS={workers} needs a shared lock store: set REDIS_URL. With "
            "in-memory locks each worker would handle the same customer's messages "
            "at once and corrupt the conversation."
        )
    logger.info("Lock store: in memory (one Rasa process; set REDIS_URL for more)")
    return InMemoryLockStore()


class LockStore:
    """`lock_store: {type: server.stores.LockStore}`: Rasa's RedisLockStore or InMemoryLockStore.

    `__new__` returns Rasa's own instance. Options under `lock_store:` in endpoints.yml
    other than `type` (e.g. `key_prefix`, `socket_timeout`) reach the RedisLockStore.
    """

    def __new__(cls, endpoint_config: Any = None) -> RasaLockStore:  # type: ignore[misc]
        kwargs = dict(getattr(endpoint_config, "kwargs", None) or {})
        if getattr(endpoint_config, "url", None):
            logger.warning("lock_store url in endpoints.yml is ignored: set REDIS_URL")
        return create_lock_store(**kwargs)


# -- what a deployment can carry -------------------------------------------------------


def cluster_problems(
    servers: int, workers: int, env: Mapping[str, str] = os.environ
) -> list[str]:
    """Why `servers` Rasa servers of `workers` Sanic workers each cannot run here."""
    if servers * workers <= 1:
        return []
    what = f"{servers} Rasa server(s) x {workers} Sanic worker(s)"
    problems = []
    if not redis_url(env):
        problems.append(
            f"{what} need REDIS_URL: Rasa's lock store and WhatsApp's reply tokens "
            "must be shared (e.g. REDIS_URL=redis://127.0.0.1:6379/0)"
        )
    if not is_postgresql(tracker_store_url(env)):
        problems.append(
            f"{what} need conversations in PostgreSQL: set TRACKER_STORE_URL (or "
            "DATABASE_URL) to a postgresql:// URL"
        )
    if not is_postgresql(env.get("DATABASE_URL", "")):
        problems.append(
            f"{what} need orders, the inbox and the outbox in PostgreSQL: set "
            "DATABASE_URL to a postgresql:// URL (SQLite allows one writer at a time "
            "and one machine)"
        )
    return problems


def describe(env: Mapping[str, str] = os.environ) -> list[str]:
    tracker = tracker_store_url(env)
    database = env.get("DATABASE_URL", "").strip()
    redis = redis_url(env)
    if is_postgresql(database):
        reconciler = "PostgreSQL advisory lock (DATABASE_URL)"
    elif redis:
        reconciler = "Redis lock (REDIS_URL)"
    else:
        reconciler = "in this process only"
    locks = f"Rasa RedisLockStore on {redacted(redis)}" if redis else "in memory (one process)"
    return [
        f"tracker store:  Rasa SQLTrackerStore on {redacted(tracker)}",
        f"lock store:     {locks}",
        f"order store:    {redacted(database) if database else 'SQLite var/orders.db'}",
        f"inbox, outbox:  {'PostgreSQL, SKIP LOCKED' if is_postgresql(database) else 'SQLite'}"
        " (DATABASE_URL)",
        f"reply tokens:   {'Redis' if redis else 'in memory (one process)'}",
        f"reconciler:     one pass at a time, {reconciler}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check what the configured stores can carry.")
    parser.add_argument("--servers", type=int, default=1, help="Rasa servers (RASA_SERVERS)")
    parser.add_argument("--workers", type=int, default=sanic_workers(), help="SANIC_WORKERS")
    args = parser.parse_args(argv)
    for line in describe():
        print(line)
    problems = cluster_problems(args.servers, args.workers)
    for problem in problems:
        print(f"refused: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
