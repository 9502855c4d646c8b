"""A session id is never reused (ADR-005 §5).

An Authorize opens `session-DEMO-1-n`; that session ends before the charger's Start arrives (here
an operator terminates it; in the field it expires at the authorization timeout). The Start with
the same idTag must not start a second run under the same id — its hold's idempotency key would
replay the ended session's intent — but get a session of its own.
"""

from __future__ import annotations

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result


async def _runs(client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')])


async def _ids(client, task_queue: str) -> list[str]:
    query = f'WorkflowType = "ChargingSession" AND TaskQueue = "{task_queue}"'
    return [w.id async for w in client.list_workflows(query)]


async def test_a_start_after_its_authorized_session_ended_gets_a_new_session(
    seeded, worker, settings, gateway_url, temporal_client
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
        [authorized] = await eventually(lambda: _ids(temporal_client, settings.task_queue))
        await temporal_client.get_workflow_handle(authorized).terminate("operator")
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Accepted"
        await charger.meter(1_000)
        await charger.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, started["transactionId"])
    assert view.session_id != authorized
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1_000
    assert await _runs(temporal_client, authorized) == 1  # never a second run under its id
