"""Per-phase balance for single-phase EVs: the site limit is per phase, a single-phase EV draws
on the phase its connector is wired to (the connector spec's `phase`), so three single-phase EVs
on three phases each get the whole per-phase limit, where on one phase they would share it.
Virtual single-phase 2.0.1 chargers that follow their profiles; judged from their journals."""

from __future__ import annotations

import httpx

from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually
from tests.smart_charging.site import (
    has_station_default,
    over_limit_spans,
    power_now,
    start_charger,
)
from tests.virtual_chargers.fixtures import register

REBALANCE_S = 1.0
VOLTS = 230.0


async def single_phase_site(
    api: httpx.AsyncClient, site: str, wiring: dict[str, int | None], limit_a: float
) -> None:
    response = await api.post("/locations", json={"id": site, "name": site})
    assert response.status_code == 201, response.text
    for station, phase in wiring.items():
        await register(api, station, DEMO_PASSWORD)
        response = await api.put(f"/stations/{station}/location", json={"location_id": site})
        assert response.status_code == 200, response.text
        spec = {
            "standard": "IEC_62196_T2",
            "format": "SOCKET",
            "power_type": "AC_1_PHASE",
            "max_voltage": 230,
            "max_amperage": 16,
            "phase": phase,
        }
        response = await api.put(f"/stations/{station}/connectors/1/spec", json=spec)
        assert response.status_code == 200, response.text
        assert response.json()["phase"] == phase
    response = await api.put(f"/sites/{site}/load-limit", json={"limit_a": limit_a})
    assert response.status_code == 200, response.text


async def charging(make_charger, stations: list[str]) -> list:
    chargers = [
        await start_charger(make_charger, s, "2.0.1", {"phases": 1, "max_power_w": 16 * VOLTS})
        for s in stations
    ]
    for charger in chargers:
        await eventually(lambda c=charger: has_station_default(c) or None, timeout=30)
    for charger in chargers:
        await charger.sessions.start_local("DEMO-TAG", 1)
    return chargers


def near(charger, amps: float) -> bool:
    return abs(power_now(charger) - amps * VOLTS) < 30


async def test_single_phase_evs_on_three_phases_each_get_the_per_phase_limit(
    settings, seeded, worker, gateway, api, make_charger
):
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"phases-{settings.task_queue}"
    wiring = {"PH-1": 1, "PH-2": 2, "PH-3": 3}
    await single_phase_site(api, site, wiring, limit_a=16)
    chargers = await charging(make_charger, list(wiring))
    await eventually(lambda: all(near(c, 16) for c in chargers), timeout=30)
    view = (await api.get(f"/sites/{site}/load")).json()
    used = view["allocation"]["used_a"]
    assert used == {"L1": 16.0, "L2": 16.0, "L3": 16.0}
    # each phase carries one EV: the site never exceeded 16 A on a phase (3 × 16 A × 230 V)
    spans = over_limit_spans(chargers, 3 * 16 * VOLTS)
    assert all(seconds <= REBALANCE_S + 1 for _, seconds in spans), spans


async def test_single_phase_evs_on_one_phase_share_it(
    settings, seeded, worker, gateway, api, make_charger
):
    """The same EVs all on L1 (no phase given): 16 A is two minimums, the third waits."""
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"one-phase-{settings.task_queue}"
    wiring: dict[str, int | None] = {"PO-1": None, "PO-2": None, "PO-3": None}
    await single_phase_site(api, site, wiring, limit_a=16)
    chargers = await charging(make_charger, list(wiring))
    await eventually(
        lambda: near(chargers[0], 8) and near(chargers[1], 8) and near(chargers[2], 0),
        timeout=30,
    )
    view = (await api.get(f"/sites/{site}/load")).json()
    assert view["allocation"]["used_a"] == {"L1": 16.0, "L2": 0.0, "L3": 0.0}
    spans = over_limit_spans(chargers, 16 * VOLTS)
    assert all(seconds <= REBALANCE_S + 1 for _, seconds in spans), spans
