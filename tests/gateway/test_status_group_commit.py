"""Connector statuses of many stations share commits (`gateway.status_writes`), against real
PostgreSQL: each status is stored with its sessions' reports, many arriving together take far
fewer statements than statuses, and one that cannot be stored fails only its own answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import text

from domain.session import ConnectorStatusUpdate
from tests.gateway.stalled_outbox import stalled_outbox

PREFIX = "GC-"
STATIONS = 20
WITH_START = 10  # stations GC-00000 … GC-00009 have a start waiting in the outbox


@pytest.fixture
async def outbox(database_url, db):
    async with stalled_outbox(database_url, PREFIX, STATIONS) as station_outbox:
        yield station_outbox


def _status(status: str) -> ConnectorStatusUpdate:
    return ConnectorStatusUpdate(timestamp=datetime.now(UTC), status=status)


def _station(n: int) -> str:
    return f"{PREFIX}{n:05d}"


async def test_many_statuses_share_commits_each_stored_with_its_sessions_reports(outbox, db):
    for n in range(WITH_START):  # answered from the fallback: the start waits in the outbox
        request = {"request": {"connector_id": 1}}
        await outbox.put(_station(n), f"session-{_station(n)}", "start", request)
    requests_before = outbox.store.fast.get_stats().get("requests_num", 0)

    stored = await asyncio.gather(
        *(
            outbox.record_status(_station(n), connector, _status(status))
            for n in range(STATIONS)
            for connector, status in ((1, "Charging"), (2, "Available"))
        )
    )

    statements = outbox.store.fast.get_stats().get("requests_num", 0) - requests_before
    assert statements <= 4, f"{statements} statements for {2 * STATIONS} statuses"
    with db.session() as s:
        connectors = s.exec(  # type: ignore[call-overload]
            text(
                "SELECT station_id, connector_id, status FROM connectors "
                "WHERE station_id LIKE 'GC-%' ORDER BY station_id, connector_id"
            )
        ).all()
        reports = s.exec(  # type: ignore[call-overload]
            text(
                "SELECT station_id, session_id, payload->>'status' FROM station_outbox "
                "WHERE station_id LIKE 'GC-%' AND kind = 'status' ORDER BY station_id"
            )
        ).all()
    assert [tuple(row) for row in connectors] == [
        (_station(n), connector, status)
        for n in range(STATIONS)
        for connector, status in ((1, "Charging"), (2, "Available"))
    ]
    # Only the connector the waiting start is on gets a report, after that start.
    assert [tuple(row) for row in reports] == [
        (_station(n), f"session-{_station(n)}", "Charging") for n in range(WITH_START)
    ]
    assert [count > 0 for count in stored[: 2 * WITH_START : 2]] == [True] * WITH_START
    assert set(stored[2 * WITH_START :]) == {0}


async def test_a_status_that_cannot_be_stored_fails_alone(outbox, db):
    """A station deleted while its charger is still connected: its status breaks the batch's
    statement (no such station); the statuses beside it are stored all the same."""
    statuses = [(_station(n), 1) for n in range(9)]
    statuses.insert(4, ("GC-DELETED", 1))

    outcomes = await asyncio.gather(
        *(outbox.record_status(s, c, _status("Available")) for s, c in statuses),
        return_exceptions=True,
    )

    failed = [s for (s, _), outcome in zip(statuses, outcomes, strict=True) if outcome != 0]
    assert failed == ["GC-DELETED"]
    assert isinstance(outcomes[4], psycopg.errors.ForeignKeyViolation)
    with db.session() as s:
        stored = s.exec(  # type: ignore[call-overload]
            text("SELECT count(*) FROM connectors WHERE station_id LIKE 'GC-0%'")
        ).scalar_one()
    assert stored == 9
