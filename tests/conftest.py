"""Shared fixtures: a real order store on SQLite, and on PostgreSQL when one is configured."""

from __future__ import annotations

import os
from unittest import mock

import pytest
import sqlalchemy as sa

from durable.tables import metadata as durable_tables
from orders.store import OrderStore, metadata
from sandbox.harness.graph_api import FakeGraphApi
from sandbox.harness.razorpay_api import FakeRazorpay

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture(scope="session", autouse=True)
def _current_durable_tables():
    """The test PostgreSQL database outlives runs: its inbox and outbox tables are made
    anew from this code's schema, once per session."""
    if POSTGRES_URL:
        engine = sa.create_engine(POSTGRES_URL, future=True)
        durable_tables.drop_all(engine)
        durable_tables.create_all(engine)
        engine.dispose()


@pytest.fixture(autouse=True)
def _own_database(tmp_path, monkeypatch):
    """Whatever a test does not point elsewhere (the channels' inbox and outbox, the
    actions' store) uses a database of its own, never the repository's var/."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")


def _backends() -> list:
    postgres = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL,
            reason="TEST_DATABASE_URL is not set: no PostgreSQL to test the store against "
            "(CI sets it when PostgreSQL runs on 127.0.0.1:5432)",
        ),
    )
    return ["sqlite", postgres]


@pytest.fixture(params=_backends())
def store(request, tmp_path) -> OrderStore:
    if request.param == "sqlite":
        store = OrderStore(f"sqlite:///{tmp_path / 'orders.db'}")
    else:
        store = OrderStore(POSTGRES_URL)
        with store.engine.begin() as conn:
            for table in (*reversed(metadata.sorted_tables), *durable_tables.sorted_tables):
                conn.execute(table.delete())
    yield store
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path) -> OrderStore:
    store = OrderStore(f"sqlite:///{tmp_path / 'orders.db'}")
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def load_checkout_agent():
    """`load_agent` for the trained model (CHECKOUT_MODEL, or models/checkout.tar.gz),
    unpacking it and building its graph once a session: reading the tar costs seconds
    each time. Each call still makes a new Agent and processor with their own tracker
    store, lock store and endpoints; the prediction graph they share keeps no state
    between messages."""
    from rasa.core.agent import load_agent
    from rasa.core.processor import MessageProcessor

    model = os.environ.get("CHECKOUT_MODEL", "models/checkout.tar.gz")
    loaded = None

    async def load(endpoints):
        nonlocal loaded
        loaded = loaded or MessageProcessor._load_model(model)
        with mock.patch.object(MessageProcessor, "_load_model", staticmethod(lambda _: loaded)):
            return await load_agent(model_path=model, endpoints=endpoints)

    return load


@pytest.fixture
async def checkout_agent(tmp_path, monkeypatch, razorpay, load_checkout_agent):
    """The trained model as a real Agent with the real action server, on an order store
    of its own and the Razorpay stand-in."""
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.endpoint import create_app as create_action_server

    import gateways.razorpay
    from orders.store import get_store
    from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET
    from sandbox.harness.razorpay_stack import run_app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_API_BASE_URL", razorpay.base_url)
    monkeypatch.setattr(gateways.razorpay, "_gateway", None)
    async with run_app(create_action_server("actions")) as actions_url:
        endpoints = AvailableEndpoints(action=EndpointConfig(url=f"{actions_url}/webhook"))
        yield await load_checkout_agent(endpoints)
    get_store().dispose()


@pytest.fixture
async def razorpay():
    """The local Razorpay stand-in on a loopback port."""
    fake = await FakeRazorpay().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def graph():
    """The local Graph API stand-in on a loopback port."""
    fake = await FakeGraphApi().start()
    yield fake
    await fake.stop()
