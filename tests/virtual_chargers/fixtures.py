"""Virtual-charger fixtures and helpers, usable from any test package:

    from tests.virtual_chargers.fixtures import live_api, make_charger  # in a conftest.py

`live_api`: the API on a real HTTP port on 127.0.0.1 (chargers upload and download over real
sockets; the URLs the API hands out point there). `make_charger`: powered-on, booted virtual
chargers (`chargers.Charger`) connected to the test gateway, powered off after the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn

from ampflow.devstack import free_port
from api.main import create_app
from chargers import Behaviour, Charger, ChargerConfig
from tests.conftest import ADMIN_KEY, DEMO_PASSWORD

MakeCharger = Callable[..., Awaitable[Charger]]


@pytest.fixture
async def live_api(settings, database_url, temporal_client, db) -> AsyncIterator[httpx.AsyncClient]:
    """The API served by uvicorn on 127.0.0.1 (URLs it hands to chargers point here)."""
    port = free_port()
    settings.api_port = port
    app = create_app(settings, database_url, temporal=temporal_client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": ADMIN_KEY}, timeout=60
    ) as client:
        yield client
    server.should_exit = True
    await serving


@pytest.fixture
async def make_charger(gateway_url: str, tmp_path: Path) -> AsyncIterator[MakeCharger]:
    """`await make_charger("DEMO-1", version="2.0.1", ...)`: a powered-on, booted charger with
    its journal and state under the test's temporary directory; all are powered off at the end."""
    made: list[Charger] = []

    async def make(
        station_id: str = "DEMO-1",
        *,
        password: str = DEMO_PASSWORD,
        behaviour: Behaviour | None = None,
        boot: bool = True,
        **config,
    ) -> Charger:
        config.setdefault("journal_file", tmp_path / f"{station_id}.jsonl")
        config.setdefault("state_file", tmp_path / f"{station_id}.state.json")
        config.setdefault("message_timeout_s", 10)
        config.setdefault("url", gateway_url)
        charger = Charger(
            ChargerConfig(
                station_id=station_id,
                password=password,
                behaviour=behaviour or Behaviour(reconnect_min_s=0.2, reconnect_max_s=1),
                **config,
            )
        )
        made.append(charger)
        await charger.start()
        if boot:
            await charger.wait_booted()
        return charger

    yield make
    for charger in made:
        await charger.stop()


async def register(api: httpx.AsyncClient, station_id: str, password: str, connectors=1) -> None:
    """Register a station through the API (idempotent for the test)."""
    response = await api.post(
        "/stations", json={"id": station_id, "password": password, "connector_count": connectors}
    )
    assert response.status_code in (201, 409), response.text


async def finished_job(api: httpx.AsyncClient, workflow_id: str, timeout: float = 60) -> dict:
    """Poll a maintenance job until it is no longer running; returns its detail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(f"/maintenance/jobs/{workflow_id}")
        if response.status_code == 200 and response.json()["state"] != "running":
            return response.json()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{workflow_id} still running: {response.text}")
        await asyncio.sleep(0.2)


async def command(api: httpx.AsyncClient, station_id: str, name: str, **params) -> dict:
    """Run a station command through the API (StationCommand workflow); its record."""
    response = await api.post(
        f"/stations/{station_id}/commands", json={"name": name, "params": params, "timeout_s": 20}
    )
    assert response.status_code in (200, 422, 502), response.text
    return response.json()
