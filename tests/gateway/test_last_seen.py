"""A station's Heartbeats move its `last_seen_at` (written with the message log's batch, one
statement for all the stations seen), which the offline alert and the console read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from domain.credentials import hash_password
from store.tables import Station
from tests.conftest import DEMO_PASSWORD
from tests.gateway.test_hostile_frames import heartbeat, station_socket
from tests.helpers import eventually

OTHER_STATION, OTHER_PASSWORD = "SEEN-2", "seen-secret"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def two_stations(seeded):
    with seeded.session() as session:
        session.add(
            Station(
                id=OTHER_STATION,
                password_hash=hash_password(OTHER_PASSWORD),
                ocpp_versions="ocpp1.6",
            )
        )
    return seeded


def last_seen(db) -> dict[str, datetime | None]:
    with db.session() as session:
        rows = session.exec(
            select(Station).where(Station.id.in_([DEMO_STATION, OTHER_STATION]))
        ).all()
        return {row.id: row.last_seen_at for row in rows}


def set_long_ago(db) -> None:
    with db.session() as session:
        for station in session.exec(
            select(Station).where(Station.id.in_([DEMO_STATION, OTHER_STATION]))
        ).all():
            station.last_seen_at = LONG_AGO
            session.add(station)


async def test_heartbeats_move_last_seen_of_every_station(two_stations, gateway_url):
    db = two_stations
    async with (
        station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as first,
        station_socket(gateway_url, OTHER_STATION, OTHER_PASSWORD) as second,
    ):
        await heartbeat(first)
        await heartbeat(second)
        await eventually(lambda: None not in last_seen(db).values())
        set_long_ago(db)  # past what connecting wrote: only the next frames can move it
        await heartbeat(first)
        await heartbeat(second)
        seen = await eventually(lambda: all(at > LONG_AGO for at in last_seen(db).values()))
    assert seen
    assert set(last_seen(db)) == {DEMO_STATION, OTHER_STATION}
