"""The smart charging API: input checks, audit, a temporary station limit, the composite
schedule a charger reports."""

from __future__ import annotations

from sqlalchemy import text

from tests.helpers import eventually
from tests.smart_charging.site import has_station_default, managed_site, power_now, start_charger

REBALANCE_S = 1.0


async def test_bad_input_is_a_clear_4xx(settings, seeded, api):
    assert (await api.put("/sites/nowhere/load-limit", json={"limit_a": 32})).status_code == 404
    await api.post("/locations", json={"id": "site-x", "name": "X"})
    cases = [
        {},  # no limit at all
        {"limit_a": -1},
        {"limit_a": 32, "schedule": [{"start": "25:00", "limit_a": 10}]},
        {"limit_a": 32, "schedule": [{"start": "17:00"}]},  # a period without a limit
        {"limit_a": 32, "schedule": [{"start": "17:00", "limit_a": 1}] * 2},
    ]
    for body in cases:
        response = await api.put("/sites/site-x/load-limit", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await api.get("/sites/site-x/load-limit")).status_code == 404
    assert (await api.delete("/sites/site-x/load-limit")).status_code == 404
    view = (await api.get("/sites/site-x/load")).json()
    assert view["managed"] is False
    station = "/stations/DEMO-1/load-limit"
    assert (await api.put(station, json={"reason": "no limit"})).status_code == 422
    naive = {"limit_a": 10, "until": "2030-01-01T00:00:00"}
    assert (await api.put(station, json=naive)).status_code == 422
    both = {"limit_a": 10, "until": "2030-01-01T00:00:00Z", "duration_s": 60}
    assert (await api.put(station, json=both)).status_code == 422
    assert (await api.put("/stations/NOPE/load-limit", json={"limit_a": 1})).status_code == 404
    bad_unit = await api.get("/stations/DEMO-1/composite-schedule", params={"unit": "kW"})
    assert bad_unit.status_code == 422


async def test_a_temporary_station_limit_and_the_composite_schedule(
    settings, seeded, worker, gateway, api, make_charger, db
):
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"station-limit-{settings.task_queue}"
    await managed_site(api, site, ["TL-1", "TL-2"], limit_a=32)
    chargers = [await start_charger(make_charger, s, "2.0.1") for s in ("TL-1", "TL-2")]
    for charger in chargers:
        await eventually(lambda c=charger: has_station_default(c) or None, timeout=30)
        await charger.sessions.start_local("DEMO-TAG", 1)
    amps = 230.0 * 3
    await eventually(lambda: all(abs(power_now(c) - 16 * amps) < 50 for c in chargers), 30)
    # maintenance at TL-1: at most 6 A for an hour
    body = {"limit_a": 6, "duration_s": 3600, "reason": "cable inspection"}
    response = await api.put("/stations/TL-1/load-limit", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["site_id"] == site
    await eventually(lambda: abs(power_now(chargers[0]) - 6 * amps) < 50, timeout=30)
    view = (await api.get(f"/sites/{site}/load")).json()
    given = {c["station_id"]: c for c in view["allocation"]["connectors"]}
    assert given["TL-1"]["current_a"] == 6.0 and "station TL-1" in given["TL-1"]["reason"]
    # the charger's own composite schedule says the same
    response = await api.get(
        "/stations/TL-1/composite-schedule", params={"connector_id": 1, "unit": "A"}
    )
    assert response.status_code == 200, response.text
    schedule = response.json()["response"]["schedule"]
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 6.0
    # lifted: back to its share
    assert (await api.delete("/stations/TL-1/load-limit")).status_code == 204
    await eventually(lambda: abs(power_now(chargers[0]) - 16 * amps) < 50, timeout=30)
    with db.session() as session:
        actions = session.exec(  # type: ignore[call-overload]
            text("SELECT action FROM audit_log ORDER BY id")
        ).all()
    done = [a[0] for a in actions]
    assert "site.load_limit" in done and "station.load_limit" in done
    assert "station.load_limit_removed" in done
