"""The real PostgreSQL and Redis on loopback for the scaling tests, or a skip that says why.

- PostgreSQL: TEST_DATABASE_URL (CI sets it when PostgreSQL answers on 127.0.0.1:5432).
  Each user gets a fresh database `scaling_<random>` on that server, dropped afterwards,
  so runs never see each other's conversations or orders.
- Redis: TEST_REDIS_URL, default redis://127.0.0.1:6379/15, a database kept for tests.
  Only the keys these tests' servers write are deleted (Rasa's `lock:*`, the WhatsApp
  channel's `whatsapp:*`, the reconciler's `cluster-lock:*`); other test modules share
  the database under prefixes of their own, possibly at the same time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVER_KEY_PATTERNS = ("lock:*", "whatsapp:*", "cluster-lock:*")


def postgres_skip_reason(server_url: str = POSTGRES_URL) -> str | None:
    if not server_url:
        return (
            "TEST_DATABASE_URL is not set: no PostgreSQL for the scaling tests (CI sets it "
            "when PostgreSQL runs on 127.0.0.1:5432)"
        )
    engine = sa.create_engine(server_url, future=True)
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL at {server_url} does not answer ({exc.orig})"
    finally:
        engine.dispose()


def redis_skip_reason(url: str = REDIS_URL) -> str | None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
        return None
    except (redis.RedisError, OSError) as exc:
        return (
            f"no Redis at {url} ({exc}): set TEST_REDIS_URL, or start one "
            "(redis-server --daemonize yes --bind 127.0.0.1 --port 6379)"
        )
    finally:
        client.close()


def require_postgres() -> None:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)


def require_redis() -> None:
    reason = redis_skip_reason()
    if reason:
        pytest.skip(reason)


@contextmanager
def fresh_database(server_url: str = "") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url` (default:
    TEST_DATABASE_URL, skipping without it); its URL. Dropped afterwards."""
    if not server_url:
        require_postgres()
        server_url = POSTGRES_URL
    name = f"scaling_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def forget_server_keys(url: str = REDIS_URL) -> None:
    """Delete the keys Rasa servers write into the test Redis database."""
    client = redis.Redis.from_url(url)
    try:
        for pattern in SERVER_KEY_PATTERNS:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@contextmanager
def scratch_redis() -> Iterator[str]:
    """TEST_REDIS_URL, with the servers' keys removed before and after."""
    require_redis()
    forget_server_keys()
    try:
        yield REDIS_URL
    finally:
        forget_server_keys()
