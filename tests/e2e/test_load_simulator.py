"""A fleet of virtual chargers (both versions) runs full sessions against the real stack."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from ampflow.load_setup import register_load_stations
from chargers.fleet import FleetConfig, run_fleet
from store.tables import ChargingSession, Payment
from tests.helpers import eventually


async def test_twenty_stations_complete_their_sessions(
    seeded, worker, gateway_url, database_url, db
):
    config = FleetConfig(
        url=gateway_url,
        stations=20,
        version="mixed",
        sessions=1,
        arrival_s=0.2,
        dwell_s=2.0,
        meter_interval_s=1,
        duration_s=60,
        seed=7,
        progress=False,
    )
    register_load_stations(
        database_url, config.station_prefix, config.stations, config.password, config.id_tag
    )
    stats = await run_fleet(config)
    assert dict(stats.errors) == {}
    assert (stats.connected, stats.booted, stats.sessions_done) == (20, 20, 20)
    assert len(stats.latencies["StartTransaction"]) == 10  # the 1.6 half
    assert len(stats.latencies["StopTransaction"]) == 10
    assert stats.latencies["MeterValues"] and stats.latencies["TransactionEvent"]
    assert "p99 ms" in stats.table()

    def completed() -> int:
        with db.session() as s:
            return s.exec(
                select(func.count())
                .select_from(ChargingSession)
                .where(ChargingSession.state == "Completed")
            ).one()

    await eventually(lambda: completed() == 20, timeout=60)
    with db.session() as s:
        charges = select(func.count()).select_from(Payment).where(Payment.kind == "charge")
        assert s.exec(charges).one() == 20
