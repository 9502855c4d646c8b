"""Fixtures for maintenance tests: the API on a real port, DEMO-1 as a virtual 1.6J charger
(`chargers/`, downloading and uploading over sockets) and job helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from ampflow.seed import DEMO_STATION
from chargers import Charger
from domain.maintenance import HealingPolicy, healing_workflow_id
from gateway.server import Gateway
from tests.virtual_chargers.fixtures import MakeCharger, live_api, make_charger

__all__ = ["live_api", "make_charger"]


@pytest.fixture
def api(live_api: httpx.AsyncClient) -> httpx.AsyncClient:
    """Here the API is served on a real port: the upload and firmware URLs it hands to chargers
    are reachable (an operator client with the API key)."""
    return live_api


@pytest.fixture
async def anonymous(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The API as a charger reaches it: no API key."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def station(seeded, worker, make_charger: MakeCharger, api) -> Charger:
    """DEMO-1 as a virtual 1.6J charger (Acme X1, firmware 1.0, two connectors), booted."""
    return await make_charger(DEMO_STATION, vendor="Acme", model="X1", connectors=2)


def received(charger: Charger, action: str) -> list[dict]:
    """The payloads of every `action` CALL the charger received, oldest first."""
    return [e["payload"] for e in charger.journal.find("command", action=action)]


@pytest.fixture(autouse=True)
async def no_stale_healing(temporal_client: Client) -> AsyncIterator[None]:
    """`healing-DEMO-1` is one id for every test (Temporal outlives the per-test task queue):
    a run left over by an earlier test would swallow this test's signal-with-start."""
    await _terminate(temporal_client, healing_workflow_id(DEMO_STATION))
    yield
    await _terminate(temporal_client, healing_workflow_id(DEMO_STATION))


async def _terminate(client: Client, workflow_id: str) -> None:
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(workflow_id).terminate("test cleanup")


@pytest.fixture
def fast_healing(gateway: Gateway) -> HealingPolicy:
    """A self-healing playbook measured in seconds."""
    policy = HealingPolicy(
        settle_s=1.5, poll_s=0.3, charging_wait_s=0.3, max_charging_waits=2, silent_after_s=900
    )
    gateway.maintenance.policy = policy
    return policy


async def finished_job(api: httpx.AsyncClient, workflow_id: str, timeout: float = 30) -> dict:
    """Poll the job until it is no longer running, neither its row nor its workflow (the row is
    written just before the workflow ends); returns its detail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(f"/maintenance/jobs/{workflow_id}")
        body = response.json() if response.status_code == 200 else {}
        if body.get("state", "running") != "running" and body.get("temporal_status") != "Running":
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{workflow_id} still running: {response.text}")
        await asyncio.sleep(0.2)
