"""Decision-only workflows (a 2.0.1 Authorize the gateway cannot decide alone, e.g. an unknown
card) are told apart from charging sessions in the Temporal UI (`SessionKind`), and take no
session number: the sessions before and after them are numbered one after the other."""

from __future__ import annotations

from datetime import UTC, datetime

from ampflow.seed import DEMO_STATION, DEMO_TAG
from tests.helpers import charger_session_result, eventually
from tests.stations import demo_201
from workflows import contract


async def _kinds(client, since: str) -> dict[str, str]:
    """This test's workflows (the dev server is shared by the whole test run)."""
    found = {}
    query = f'StationId="{DEMO_STATION}" AND StartTime >= "{since}"'
    async for execution in client.list_workflows(query):
        kind = execution.typed_search_attributes.get(contract.SESSION_KIND)
        found[execution.id] = kind
    return found


async def test_decisions_are_apart_from_sessions_and_take_no_number(
    seeded, worker, gateway_url, temporal_client
):
    since = datetime.now(UTC).isoformat()
    async with demo_201(gateway_url) as station:
        first = station.transaction(1, DEMO_TAG)
        await station.event(first.started())
        await station.event(first.ended())
        for card in ("UNKNOWN-1", "UNKNOWN-2"):
            assert (await station.authorize(card))["status"] == "Invalid"
        second = station.transaction(1, DEMO_TAG)
        await station.event(second.started())
        await station.event(second.ended())
    views = [
        await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
        for tx in (first, second)
    ]
    numbers = [int(v.session_id.rsplit("-", 1)[1]) for v in views]
    assert numbers[1] == numbers[0] + 1

    async def all_listed() -> dict[str, str] | None:
        kinds = await _kinds(temporal_client, since)
        return kinds if len(kinds) == 4 else None

    kinds = await eventually(all_listed)
    sessions = {wid for wid, kind in kinds.items() if kind == contract.KIND_SESSION}
    decisions = {wid for wid, kind in kinds.items() if kind == contract.KIND_DECISION}
    assert sessions == {v.session_id for v in views}
    assert len(decisions) == 2 and all(d.startswith("authorize-") for d in decisions)
    only_sessions = [
        e.id
        async for e in temporal_client.list_workflows(
            f'StationId="{DEMO_STATION}" AND SessionKind="{contract.KIND_SESSION}" '
            f'AND StartTime >= "{since}"'
        )
    ]
    assert set(only_sessions) == sessions
