"""The links of a connect storm share statements (`gateway.session_listener`), against real
PostgreSQL: every session of a station that went offline and came back hears both, in that
order, and many links take far fewer statements than links."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gateway import events
from gateway.session_listener import SessionListener
from tests.gateway.stalled_outbox import stalled_outbox

PREFIX = "LB-"
STATIONS = 30
WITH_START = 10  # stations LB-00000 … LB-00009 have a start waiting in the outbox


@pytest.fixture
async def listener(database_url, db):
    async with stalled_outbox(database_url, PREFIX, STATIONS) as outbox:
        yield SessionListener(outbox.store, outbox)


def _station(n: int) -> str:
    return f"{PREFIX}{n:05d}"


async def test_a_storm_of_links_shares_statements_each_session_hears_its_station_in_order(
    listener, db
):
    for n in range(WITH_START):  # answered from the fallback: the start waits in the outbox
        await listener.outbox.put(_station(n), f"session-{_station(n)}", "start", {"request": {}})
    requests_before = listener.store.pool.get_stats().get("requests_num", 0)
    gone = datetime.now(UTC)
    back = gone + timedelta(seconds=1)

    for n in range(STATIONS):  # every station drops, then comes back
        listener(events.Disconnected(_station(n), gone, 1006))
    for n in range(STATIONS):
        listener(events.Connected(_station(n), back, "ocpp1.6"))
    await asyncio.wait_for(listener._drainer, 30)  # type: ignore[arg-type]

    statements = listener.store.pool.get_stats().get("requests_num", 0) - requests_before
    assert statements <= 4, f"{statements} statements for {2 * STATIONS} links"
    with db.session() as s:
        reports = s.exec(  # type: ignore[call-overload]
            text(
                "SELECT station_id, session_id, (payload->>'online')::bool FROM station_outbox "
                "WHERE station_id LIKE 'LB-%' AND kind = 'link' ORDER BY station_id, id"
            )
        ).all()
    # Only the stations with a session get reports: offline first, then online again.
    assert [tuple(row) for row in reports] == [
        (_station(n), f"session-{_station(n)}", online)
        for n in range(WITH_START)
        for online in (False, True)
    ]
