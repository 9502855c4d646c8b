"""Test harness: one real PostgreSQL and one real Temporal dev server per test session.

Isolation per test: clean tables, a unique task queue, its own gateway and worker.
Set AMPFLOW_TEST_DATABASE_URL to use an existing PostgreSQL instead of the embedded one.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client

from ampflow.devstack import free_port, start_temporal_dev_server, stop_process
from ampflow.seed import seed_demo
from api.main import create_app
from gateway.server import Gateway
from runtime.settings import Settings
from runtime.temporal import data_converter
from store.db import Database
from store.embedded import ensure_database, start_embedded_postgres
from store.migrate import upgrade
from tests.histories.capture import capture_dir, run_capture
from workers.session_worker import build_worker

ADMIN_KEY = "test-admin-key"
DEMO_PASSWORD = "demo-station-secret-16"
# The fixed payload codec key of every test (and of processes the tests start).
TEST_CODEC_KEYS = "test-1:" + "dGVzdC1jb2RlYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA="
os.environ["AMPFLOW_TEMPORAL_CODEC_KEYS"] = TEST_CODEC_KEYS


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("AMPFLOW_TEST_DATABASE_URL")
    if given:
        upgrade(given)
        yield given
        return
    # Outside pytest's temporary tree: the server runs as another user and must reach its files.
    data_dir = Path(tempfile.mkdtemp(prefix="ampflow-test-pg-"))
    data_dir.chmod(0o755)
    server, url = start_embedded_postgres(data_dir, database="ampflow_test", temporary=True)
    ensure_database(server.get_uri("postgres"), "ampflow_test")
    upgrade(url)
    yield url
    server.cleanup()  # stop it before pytest tidies its temporary directories


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    port = free_port()
    process = start_temporal_dev_server(port, ui_port=None, db_file=None)
    yield f"127.0.0.1:{port}"
    stop_process(process)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=4)
    with database.session() as session:
        tables = session.exec(  # type: ignore[call-overload]
            text(
                "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalar_one()
        session.exec(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))  # type: ignore
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, temporal_address: str) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_address,
        task_queue=f"test-{uuid.uuid4().hex[:12]}",
        admin_api_key=ADMIN_KEY,
        gateway_port=0,
        meter_signal_interval_s=0.2,
        demo_station_password=DEMO_PASSWORD,
    )


@pytest.fixture(autouse=True)
def capture_histories(request: pytest.FixtureRequest) -> Iterator[None]:
    """Opt-in (AMPFLOW_CAPTURE_HISTORIES): dump this test's workflow histories at teardown."""
    out = capture_dir()
    if out is None or "settings" not in request.fixturenames:
        yield
        return
    queue = request.getfixturevalue("settings").task_queue
    address = request.getfixturevalue("temporal_address")
    yield
    run_capture(address, queue, request.node.name, out)


@pytest.fixture
def seeded(db: Database) -> Database:
    seed_demo(db, DEMO_PASSWORD)
    return db


@pytest.fixture
async def temporal_client(temporal_address: str) -> Client:
    return await Client.connect(temporal_address, data_converter=data_converter(TEST_CODEC_KEYS))


@pytest.fixture
async def worker(temporal_client: Client, db: Database, settings: Settings) -> AsyncIterator:
    """A session worker on this test's task queue, running for the whole test."""
    running = build_worker(temporal_client, db, settings.task_queue, settings=settings)
    async with running:
        yield running


@pytest.fixture
async def gateway(
    settings: Settings, temporal_client: Client, database_url: str, db: Database
) -> AsyncIterator[Gateway]:
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    yield gw
    await gw.stop()


@pytest.fixture
def gateway_url(gateway: Gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/ocpp"


@pytest.fixture
async def api(
    settings: Settings, database_url: str, temporal_client: Client, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the API app, with the operator key set."""
    app = create_app(settings, database_url, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"X-API-Key": ADMIN_KEY}
        ) as client:
            yield client
