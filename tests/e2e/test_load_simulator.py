"""The load simulator drives many stations through full sessions against the real stack."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from ampflow.load_setup import register_load_stations
from ampflow.loadsim import LoadConfig, run_load
from store.tables import ChargingSession, Payment
from tests.helpers import eventually


async def test_twenty_stations_complete_their_sessions(
    seeded, worker, gateway_url, database_url, db
):
    config = LoadConfig(
        url=gateway_url,
        stations=20,
        sessions=1,
        meter_values=2,
        meter_interval_s=0.05,
        duration_s=60,
        progress=False,
    )
    register_load_stations(
        database_url, config.station_prefix, config.stations, config.password, config.id_tag
    )
    stats = await run_load(config)
    assert dict(stats.errors) == {}
    assert (stats.connected, stats.booted, stats.sessions_done) == (20, 20, 20)
    assert len(stats.latencies["MeterValues"]) == 40
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
