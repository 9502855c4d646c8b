"""Fixtures of the access-control tests: the app with a recording mailer, clients without
credentials, accounts of every role, and DEMO-1 as a scripted OCPP 1.6 virtual charger
(`chargers.script`) that keeps a local list.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError

from ampflow.seed import DEMO_STATION
from api.main import create_app
from chargers.script import Script16, scripted
from domain.access import local_list_workflow_id
from gateway import versions
from gateway.protocol import OCPP16
from gateway.v16.local_list_commands import COMMANDS as V16_LOCAL_LIST
from tests.conftest import ADMIN_KEY, DEMO_PASSWORD


@dataclass
class RecordingMailer:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


@pytest.fixture
async def app(settings, database_url, temporal_client, db):
    application = create_app(settings, database_url, temporal=temporal_client)
    application.state.mailer = RecordingMailer()
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials (pass headers per request)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.fixture
def admin() -> dict[str, str]:
    return {"X-API-Key": ADMIN_KEY}


@pytest.fixture
async def local_list_translators(monkeypatch, temporal_client):
    """The 1.6 local-list translators (until `gateway/versions.py` registers them); no list
    sync of an earlier test (on its own task queue) may linger under the same workflow id."""
    for name, translator in V16_LOCAL_LIST.items():
        monkeypatch.setitem(versions.TRANSLATORS[OCPP16], name, translator)
    await _end_list_sync(temporal_client)
    yield
    await _end_list_sync(temporal_client)


async def _end_list_sync(client) -> None:
    try:
        await client.get_workflow_handle(local_list_workflow_id(DEMO_STATION)).terminate()
    except RPCError:
        pass  # none running


@contextlib.asynccontextmanager
async def connected_charger(url: str, station_id: str = DEMO_STATION) -> AsyncIterator[Script16]:
    """A new scripted 1.6 charger (empty local list), booted, both connectors Available."""
    async with scripted(url, station_id, DEMO_PASSWORD) as cp:
        for connector_id in (1, 2):
            await cp.status("Available", connector_id)
        yield cp


@pytest.fixture
async def charger(seeded, worker, gateway_url, local_list_translators) -> AsyncIterator[Script16]:
    """The demo station DEMO-1, connected and booted, answering every command we send."""
    async with connected_charger(gateway_url) as cp:
        yield cp


def lists(cp: Script16) -> list[dict[str, Any]]:
    """Every SendLocalList the charger received, in order (accepted or not)."""
    return [
        {
            "version": p["listVersion"],
            "type": p["updateType"],
            "entries": p.get("localAuthorizationList", []),
        }
        for p in (e["payload"] for e in cp.charger.journal.find("command", action="SendLocalList"))
    ]


def list_version(cp: Script16) -> int:
    """The version of the local list the charger holds."""
    return cp.charger.state.local_list.version


def local_list(cp: Script16) -> dict[str, dict]:
    """The charger's local list: idTag -> idTagInfo."""
    return cp.charger.state.local_list.entries


def started_transactions(cp: Script16) -> list[int]:
    """The transaction ids the CSMS gave the charger's StartTransactions."""
    return [e["payload"]["transactionId"] for e in _results(cp, "StartTransaction")]


def stopped_transactions(cp: Script16) -> list[int]:
    """The transactions whose StopTransaction the CSMS answered."""
    answered = {e["id"] for e in _results(cp, "StopTransaction")}
    calls = cp.charger.journal.find("call", action="StopTransaction")
    return [e["payload"]["transactionId"] for e in calls if e["id"] in answered]


def _results(cp: Script16, action: str) -> list[dict]:
    return cp.charger.journal.find("result", action=action)
