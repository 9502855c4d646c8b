"""Demo data for `ampflow dev`: station DEMO-1, a driver with card DEMO-TAG, a default tariff.

Idempotent: running it again changes nothing (except a changed demo password).
"""

from __future__ import annotations

import logging

from sqlmodel import select

from domain.credentials import (
    StationKeys,
    hash_password,
    hash_station_password,
    station_password_problem,
    verify_station_password,
)
from store.db import Database
from store.tables import Driver, IdToken, Station, Tariff

log = logging.getLogger(__name__)

DEMO_STATION = "DEMO-1"
DEMO_TAG = "DEMO-TAG"
DEMO_EMAIL = "demo.driver@example.com"

# 0.35 EUR/kWh + 1.20 EUR/hour (2 cents a minute) + 0.50 EUR per session, net, plus 20 % VAT.
DEMO_TARIFF = {
    "name": "Standard",
    "currency": "EUR",
    "energy_price_per_kwh": 35,
    "time_price_per_hour": 120,
    "session_fee": 50,
    "vat_rate_bp": 2000,
    "prices_include_vat": False,
    "is_default": True,
}


def seed_demo(db: Database, station_password: str, keys: StationKeys | None = None) -> None:
    """Create the demo station, driver, token and default tariff if they are missing.

    The station password follows the station rule (16-40 characters). It is stored under the
    pepper of `keys`; without them in the older PBKDF2 format, which the gateway verifies and
    rehashes under its pepper at the station's first login.
    """
    problem = station_password_problem(station_password)
    if problem:
        raise ValueError(f"AMPFLOW_DEMO_STATION_PASSWORD: {problem}")

    def encode() -> str:
        if keys is None:
            return hash_password(station_password)
        return hash_station_password(station_password, keys)

    with db.session() as session:
        tariff = session.exec(select(Tariff).where(Tariff.name == DEMO_TARIFF["name"])).first()
        if tariff is None:
            session.add(Tariff(**DEMO_TARIFF))
        station = session.get(Station, DEMO_STATION)
        if station is None:
            session.add(
                Station(
                    id=DEMO_STATION,
                    password_hash=encode(),
                    connector_count=2,
                    ocpp_versions="ocpp1.6,ocpp2.0.1",
                )
            )
        elif not verify_station_password(
            station_password, station.password_hash, keys or StationKeys.of(b"-")
        ):
            station.password_hash = encode()
            session.add(station)
        driver = session.exec(select(Driver).where(Driver.email == DEMO_EMAIL)).first()
        if driver is None:
            driver = Driver(name="Demo Driver", email=DEMO_EMAIL)
            session.add(driver)
            session.flush()
        if session.exec(select(IdToken).where(IdToken.token == DEMO_TAG)).first() is None:
            session.add(IdToken(token=DEMO_TAG, driver_id=driver.id))
    log.info("demo data ready: station %s, token %s", DEMO_STATION, DEMO_TAG)
