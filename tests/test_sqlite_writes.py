"""Write transactions on SQLite while another process holds its write lock
(orders.store.write_transaction): tried again until the lock is free, never lost."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from orders.store import OrderStore, write_transaction


@pytest.fixture
def sqlite_store(tmp_path):
    store = OrderStore(f"sqlite:///{tmp_path / 'orders.db'}")
    with store.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (text TEXT)"))
    yield store
    store.dispose()


def test_a_write_waits_for_another_connections_write_lock_and_runs_once_it_is_free(
    sqlite_store, tmp_path
):
    other = sqlite3.connect(
        tmp_path / "orders.db", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    other.execute("INSERT INTO notes VALUES ('theirs')")
    attempts = []

    def write(conn):
        attempts.append(1)
        conn.execute(sa.text("INSERT INTO notes VALUES ('ours')"))
        return "written"

    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    release.start()
    try:
        assert write_transaction(sqlite_store.engine, write) == "written"
    finally:
        release.join()
        other.close()
    assert len(attempts) > 1  # it found the database locked, and tried again
    with sqlite_store.engine.connect() as conn:
        notes = conn.execute(sa.text("SELECT text FROM notes ORDER BY rowid")).scalars().all()
    assert notes == ["theirs", "ours"]
    # The connection went back to the pool with SQLite's own busy handler restored.
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30000


def test_other_database_errors_are_not_retried(sqlite_store):
    attempts = []

    def broken(conn):
        attempts.append(1)
        conn.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))

    with pytest.raises(OperationalError, match="no such table"):
        write_transaction(sqlite_store.engine, broken)
    assert len(attempts) == 1


@pytest.mark.parametrize("setting, pragma", [(None, 1), ("normal", 1), ("FULL", 2)])
def test_sqlite_synchronous_follows_the_setting(tmp_path, monkeypatch, setting, pragma):
    if setting is None:
        monkeypatch.delenv("SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("SQLITE_SYNCHRONOUS", setting)
    store = OrderStore(f"sqlite:///{tmp_path / 'orders.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == pragma
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.dispose()


def test_an_unknown_sqlite_synchronous_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SQLITE_SYNCHRONOUS", "OFF")  # would lose commits on a crash
    with pytest.raises(ValueError, match="SQLITE_SYNCHRONOUS must be NORMAL or FULL"):
        OrderStore(f"sqlite:///{tmp_path / 'orders.db'}")
