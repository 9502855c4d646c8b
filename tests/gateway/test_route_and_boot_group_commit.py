"""A connect-and-boot storm's route and boot writes share statements (`gateway.group_commit`),
against real PostgreSQL: each station's row ends as its own last write said, each boot gets its
own registration back, and many writes take far fewer statements than writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from ampflow.load_setup import register_load_stations
from gateway.station_store import BootRecord, StationStore

PREFIX = "RB-"
STATIONS = 40


@pytest.fixture
async def store(database_url, db):
    register_load_stations(database_url, PREFIX, STATIONS, "route-boot-secret-16", "RB-TAG")
    station_store = StationStore(database_url)
    await station_store.open()
    yield station_store
    await station_store.close()


def _batches(name: str) -> float:
    """Batches `ampflow_gateway_group_commit_seconds` has counted for the group commit `name`."""
    sample = "ampflow_gateway_group_commit_seconds_count"
    return REGISTRY.get_sample_value(sample, {"name": name}) or 0.0


def _station(n: int) -> str:
    return f"{PREFIX}{n:05d}"


def _statements(store: StationStore) -> int:
    return store.fast.get_stats().get("requests_num", 0)


async def test_a_storm_of_connects_and_boots_shares_statements_each_station_its_own(store, db):
    with db.session() as s:  # the operator marked one station "Pending at the next boot"
        s.exec(  # type: ignore[call-overload]
            text("UPDATE stations SET pending_next_boot = true WHERE id = :id"),
            params={"id": _station(7)},
        )
        s.commit()
    before = _statements(store)
    batches_before = {name: _batches(name) for name in ("route-writes", "boot-writes")}
    at = datetime.now(UTC)

    await asyncio.gather(
        *(
            store.set_connected(_station(n), at, f"gateway-{n % 3}", "ocpp1.6")
            for n in range(STATIONS)
        )
    )
    booted = await asyncio.gather(
        *(
            store.record_boot(_station(n), {"vendor": "V", "model": f"M{n}"}, at)
            for n in range(STATIONS)
        ),
        store.record_boot("RB-NOT-REGISTERED", {"vendor": "V"}, at),
    )

    statements = _statements(store) - before
    assert statements <= 8, f"{statements} statements for {2 * STATIONS + 1} writes"
    batches = {name: _batches(name) - count for name, count in batches_before.items()}
    assert all(1 <= count <= 8 for count in batches.values()), batches  # each batch measured
    expected = [BootRecord("Pending" if n == 7 else "Accepted", False) for n in range(STATIONS)]
    assert booted == [*expected, BootRecord(None, False)]
    with db.session() as s:
        rows = s.exec(  # type: ignore[call-overload]
            text(
                "SELECT id, connected, gateway_queue, model, pending_next_boot FROM stations "
                "WHERE id LIKE 'RB-%' ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (_station(n), True, f"gateway-{n % 3}", f"M{n}", False) for n in range(STATIONS)
    ]


async def test_a_station_written_twice_in_one_batch_keeps_its_last_write(store, db):
    at = datetime.now(UTC)
    writes = [
        store.set_connected(_station(n % 5), at + timedelta(seconds=n), f"gateway-{n}", "ocpp2.0.1")
        for n in range(10)
    ]  # stations 0-4 twice: by gateway-0…4, then by gateway-5…9

    await asyncio.gather(*writes)

    with db.session() as s:
        rows = s.exec(  # type: ignore[call-overload]
            text("SELECT id, gateway_queue FROM stations WHERE id LIKE 'RB-%' AND connected")
        ).all()
    assert sorted(tuple(row) for row in rows) == [
        (_station(n), f"gateway-{n + 5}") for n in range(5)
    ]
