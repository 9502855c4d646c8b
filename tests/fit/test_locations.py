"""Stations get a location (the site): operators edit it, drivers see it in `/me/stations` with
connector kinds and gross prices formatted in the currency, and analytics group by it (#16)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg

from ampflow.seed import DEMO_STATION
from store import analytics_queries as q
from store.access_tables import AuditEntry
from store.db import libpq_url
from store.migrate import upgrade
from tests.access.helpers import ADMIN, driver_account, operator_account

PLACE = {
    "id": "berlin-1",
    "name": "Ñandú Parkhaus Zoë",
    "address": "Łukasiewiczstraße 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DEU",
    "coordinates": {"latitude": "52.5200066", "longitude": "13.404954"},
    "time_zone": "Europe/Berlin",
    "parking_type": "PARKING_GARAGE",
    "opening_times": {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": d, "period_begin": "07:00", "period_end": "22:00"} for d in range(1, 6)
        ],
    },
}
SPEC = {
    "standard": "IEC_62196_T2",
    "format": "SOCKET",
    "power_type": "AC_3_PHASE",
    "max_voltage": 400,
    "max_amperage": 32,
    "max_electric_power": 22000,
}


async def test_operators_place_stations_and_drivers_see_where_and_what(http, seeded, db):
    technician = await operator_account(http, "technician")
    created = await http.post("/locations", json=PLACE, headers=technician["headers"])
    assert created.status_code == 201, created.text
    assert created.json()["coordinates"] == {"latitude": "52.5200066", "longitude": "13.404954"}
    placed = await http.put(
        f"/stations/{DEMO_STATION}/location", json={"location_id": "berlin-1"}, headers=ADMIN
    )
    assert placed.status_code == 200 and placed.json()["station_ids"] == [DEMO_STATION]
    spec = await http.put(
        f"/stations/{DEMO_STATION}/connectors/1/spec", json=SPEC, headers=technician["headers"]
    )
    assert spec.status_code == 200, spec.text
    renamed = await http.patch("/locations/berlin-1", json={"postal_code": "10117"}, headers=ADMIN)
    assert renamed.json()["postal_code"] == "10117" and renamed.json()["city"] == "Berlin"

    driver = await driver_account(http, "zoe@example.com", "Zoë")
    answer = await http.get(f"/me/stations/{DEMO_STATION}", headers=driver["headers"])
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["name"] == "Ñandú Parkhaus Zoë"
    where = view["location"]
    assert (where["address"], where["city"], where["postal_code"], where["country"]) == (
        "Łukasiewiczstraße 1",
        "Berlin",
        "10117",
        "DEU",
    )
    assert where["coordinates"] == {"latitude": "52.5200066", "longitude": "13.404954"}
    assert where["opening_times"]["regular_hours"][0] == {
        "weekday": 1,
        "period_begin": "07:00",
        "period_end": "22:00",
    }
    first = view["connectors"][0]
    assert (first["connector_id"], first["standard"], first["format"]) == (
        1,
        "IEC_62196_T2",
        "SOCKET",
    )
    assert (first["power_type"], first["max_power_kw"]) == ("AC_3_PHASE", 22.0)
    # The demo tariff: 0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR, net, plus 20 % VAT.
    price = view["price"]
    assert (price["energy"], price["time"], price["session_fee"], price["vat"]) == (
        "0.42 EUR",
        "1.44 EUR",
        "0.60 EUR",
        "20 %",
    )
    assert price["summary"] == "0.42 EUR/kWh + 1.44 EUR/h + 0.60 EUR"
    assert "vat_rate_bp" not in price and "energy_price_per_kwh" not in price
    listed = (await http.get("/me/stations", headers=driver["headers"])).json()
    assert listed == [view]

    # The location is the analytics site.
    assert (await http.get("/sites", headers=ADMIN)).json() == [
        {"site_id": "berlin-1", "station_ids": [DEMO_STATION]}
    ]
    with db.session() as session:
        assert q.stations_of_site(session.connection(), "berlin-1") == [DEMO_STATION]
        actions = {e.action for e in session.query(AuditEntry).all()}
    assert {"location.create", "location.update", "station.place", "connector.spec"} <= actions


async def test_bad_location_input_is_refused_clearly(http, seeded):
    bad = [
        {**PLACE, "coordinates": {"latitude": "91", "longitude": "0"}},
        {**PLACE, "country": "Germany"},
        {**PLACE, "time_zone": "Mars/Olympus"},
        {**PLACE, "id": "no spaces"},
        {
            **PLACE,
            "opening_times": {
                "twentyfourseven": False,
                "regular_hours": [{"weekday": 1, "period_begin": "22:00", "period_end": "07:00"}],
            },
        },
        {**PLACE, "opening_times": {"twentyfourseven": False}},
    ]
    for body in bad:
        answer = await http.post("/locations", json=body, headers=ADMIN)
        assert answer.status_code == 422, (body, answer.text)
    assert (await http.post("/locations", json=PLACE, headers=ADMIN)).status_code == 201
    assert (await http.post("/locations", json=PLACE, headers=ADMIN)).status_code == 409
    unknown = await http.put(
        f"/stations/{DEMO_STATION}/location", json={"location_id": "nowhere"}, headers=ADMIN
    )
    assert unknown.status_code == 422 and "unknown location_id" in unknown.text
    await http.put(
        f"/stations/{DEMO_STATION}/location", json={"location_id": "berlin-1"}, headers=ADMIN
    )
    busy = await http.delete("/locations/berlin-1", headers=ADMIN)
    assert busy.status_code == 409 and DEMO_STATION in busy.text
    no_connector = await http.put(
        f"/stations/{DEMO_STATION}/connectors/9/spec", json=SPEC, headers=ADMIN
    )
    assert no_connector.status_code == 404
    wrong_kind = await http.put(
        f"/stations/{DEMO_STATION}/connectors/1/spec",
        json={**SPEC, "standard": "TYPE_2"},
        headers=ADMIN,
    )
    assert wrong_kind.status_code == 422
    cleared = await http.patch("/locations/berlin-1", json={"name": None}, headers=ADMIN)
    assert cleared.status_code == 422


def test_the_migration_turns_sites_into_locations(database_url):
    """A database with the old `station_sites` keeps its grouping as locations."""
    name = "ampflow_locations_migration"
    parts = urlsplit(libpq_url(database_url))
    admin = urlunsplit(parts._replace(path="/postgres"))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade(url, "0009_session_record_seq")
        with psycopg.connect(url, autocommit=True) as conn:
            for station in ("ST-A", "ST-B", "ST-C"):
                conn.execute(
                    "INSERT INTO stations (id, security_profile, ocpp_versions, connector_count, "
                    "registration_status, connected) VALUES (%s, 1, 'ocpp1.6', 2, 'Accepted', "
                    "false)",
                    (station,),
                )
            conn.execute("INSERT INTO station_sites VALUES ('ST-A', 'north'), ('ST-B', 'north')")
        upgrade(url, "0010_locations")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id, name FROM locations").fetchall() == [("north", "north")]
            rows = conn.execute("SELECT id, location_id FROM stations ORDER BY id").fetchall()
            assert rows == [("ST-A", "north"), ("ST-B", "north"), ("ST-C", None)]
            gone = conn.execute("SELECT to_regclass('station_sites')").fetchone()
            assert gone == (None,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
