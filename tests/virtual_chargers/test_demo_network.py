"""`ampflow dev --demo N`: VC-1 … VC-N registered idempotently, each with its own card,
odd ones OCPP 1.6 and even ones 2.0.1, charging through the real stack."""

from __future__ import annotations

from sqlmodel import select

from ampflow.load_setup import register_demo_chargers
from chargers import read
from chargers.fleet import Fleet, demo_network
from store.tables import ChargingSession
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


async def test_demo_network_charges_with_each_drivers_card(
    seeded, worker, gateway_url, database_url, db, tmp_path
):
    register_demo_chargers(database_url, 4, DEMO_PASSWORD)
    register_demo_chargers(database_url, 4, DEMO_PASSWORD)  # idempotent
    config = demo_network(
        gateway_url, 4, DEMO_PASSWORD, tmp_path, arrival_s=0.2, dwell_s=2, meter_interval_s=1
    )
    config.sessions, config.duration_s = 1, 60
    fleet = Fleet(config)
    stats = await fleet.run()
    assert dict(stats.errors) == {}
    assert [c.station_id for c in fleet.chargers] == ["VC-1", "VC-2", "VC-3", "VC-4"]
    assert [c.version for c in fleet.chargers] == ["1.6", "2.0.1", "1.6", "2.0.1"]
    for n in range(1, 5):
        journal = read(tmp_path / f"VC-{n}.jsonl")
        stop = next(e for e in journal if e["ev"] == "tx_stop")
        assert stop["idTag"] == f"VC-TAG-{n}" and stop["energyWh"] > 0

    def completed():
        with db.session() as s:
            rows = s.exec(select(ChargingSession).where(ChargingSession.state == "Completed"))
            return sorted(r.station_id for r in rows.all())

    assert await eventually(lambda: completed() == ["VC-1", "VC-2", "VC-3", "VC-4"], timeout=60)
