"""The chaos fleet: which stations exist, how each one is used, and seeding them.

One driver and one RFID card per station (`TAG-<station>`), so the checker can tell whose money
a transaction is from the charger's journal alone. The chaos tariff is 1 cent per Wh plus a
1.00 EUR session fee, no VAT, no time or idle price: `price(wh) = 100 + wh`, arithmetic the
checker does itself.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_FEE = 100  # minor units
CENTS_PER_WH = 1
CHAOS_TARIFF = {
    "name": "Chaos",
    "currency": "EUR",
    "energy_price_per_kwh": 1000 * CENTS_PER_WH,
    "time_price_per_hour": 0,
    "session_fee": SESSION_FEE,
    "vat_rate_bp": 0,
    "prices_include_vat": False,
    "is_default": True,
}

# How a station's sessions begin and who pays. Every kind runs on both versions except where a
# kind only exists on one (plug-in first is a 2.0.1 flow; the offline replay runs on 1.6).
KINDS: list[tuple[str, str]] = [
    ("card", "1.6"),
    ("card", "2.0.1"),
    ("card", "1.6"),
    ("card", "2.0.1"),
    ("plug_first", "2.0.1"),
    ("ledger", "1.6"),
    ("ledger", "2.0.1"),
    ("remote", "1.6"),
    ("remote", "2.0.1"),
    ("guest", "1.6"),
    ("guest", "2.0.1"),
    ("offline", "1.6"),
]
CARD_KINDS = {"card", "plug_first", "remote", "offline"}


@dataclass(frozen=True)
class StationPlan:
    station_id: str
    version: str
    kind: str  # card | plug_first | ledger | remote | guest | offline

    @property
    def tag(self) -> str:
        return f"TAG-{self.station_id}"

    @property
    def pays_by_card(self) -> bool:
        return self.kind in CARD_KINDS


def plan(copies: int = 1) -> list[StationPlan]:
    """`copies` stations of every kind in `KINDS`."""
    stations = []
    for copy in range(copies):
        for n, (kind, version) in enumerate(KINDS):
            short = "16" if version == "1.6" else "21"
            stations.append(
                StationPlan(f"CH{short}-{kind[:4].upper()}-{copy}{n:02d}", version, kind)
            )
    return stations


def price(energy_wh: int) -> int:
    """The chaos tariff, by the checker's own arithmetic."""
    return SESSION_FEE + CENTS_PER_WH * max(energy_wh, 0)


def seed(
    database_url: str, stripe_url: str, stripe_key: str, stations: list[StationPlan], password: str
) -> dict[str, int]:
    """Create the tariff, stations, drivers, cards and saved Stripe cards; returns the driver
    id per station."""
    from sqlmodel import select

    from activities.payments.service import Payments
    from domain.credentials import hash_password
    from runtime.settings import Settings
    from store.db import Database
    from store.tables import Driver, IdToken, Station, Tariff

    db = Database(database_url, pool_size=2)
    settings = Settings(
        database_url=database_url, stripe_api_key=stripe_key, stripe_api_base=stripe_url
    )
    payments = Payments.from_settings(db, settings)
    assert payments.stripe is not None
    drivers: dict[str, int] = {}
    password_hash = hash_password(password)
    with db.session() as s:
        tariff = s.exec(select(Tariff).where(Tariff.name == CHAOS_TARIFF["name"])).first()
        if tariff is None:
            tariff = Tariff(**CHAOS_TARIFF)
            s.add(tariff)
            s.flush()
        for plan_ in stations:
            s.add(
                Station(
                    id=plan_.station_id,
                    password_hash=password_hash,
                    connector_count=1,
                    tariff_id=tariff.id,
                )
            )
            driver = Driver(
                name=plan_.station_id, email=f"{plan_.station_id.lower()}@chaos.invalid"
            )
            s.add(driver)
            s.flush()
            assert driver.id is not None
            drivers[plan_.station_id] = driver.id
            if plan_.kind != "guest":
                s.add(IdToken(token=plan_.tag, driver_id=driver.id))
    for plan_ in stations:
        if plan_.pays_by_card:
            with db.session() as s:
                setup = payments.stripe.start_card_setup(
                    s, drivers[plan_.station_id], payment_method="pm_card_visa"
                )
            assert setup["status"] == "succeeded", setup
    db.dispose()
    return drivers
