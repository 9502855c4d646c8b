"""Fixtures of the access-control tests: the app with a recording mailer, clients without
credentials, accounts of every role, and a connected OCPP 1.6 charger that holds a local list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from temporalio.service import RPCError

from ampflow.seed import DEMO_STATION
from api.main import create_app
from domain.access import local_list_workflow_id
from gateway import versions
from gateway.protocol import OCPP16
from gateway.v16.local_list_commands import COMMANDS as V16_LOCAL_LIST
from tests.access.charger import connected_charger
from tests.conftest import ADMIN_KEY


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


@pytest.fixture
async def charger(seeded, worker, gateway_url, local_list_translators):
    """The demo station DEMO-1, connected and booted, answering every command we send."""
    async with connected_charger(gateway_url) as cp:
        yield cp
