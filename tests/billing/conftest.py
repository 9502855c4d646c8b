"""Billing fixtures: the fake Stripe server, settings pointing at it, the payments service."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe
from sqlmodel import select

from activities.payments.service import Payments
from api.main import create_app
from runtime.settings import Settings
from store.billing_tables import DriverAccount
from store.db import Database
from store.tables import Driver
from tests.conftest import ADMIN_KEY
from tests.fakes.fake_stripe import FakeStripe
from workers.session_worker import build_worker

STRIPE_KEY = "sk_test_ampflow_billing"
WEBHOOK_SECRET = "whsec_ampflow_test"


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def fake(stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    stripe_server.reset()
    yield stripe_server
    assert stripe_server.internal_errors == []


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the SDK's retry back-off negligible."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.02)


@pytest.fixture
def stripe_settings(settings: Settings, fake: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "stripe_api_key": STRIPE_KEY,
            "stripe_api_base": fake.url,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_max_network_retries": 2,
        }
    )


@pytest.fixture
def payments(seeded: Database, stripe_settings: Settings) -> Payments:
    return Payments.from_settings(seeded, stripe_settings)


@pytest.fixture
def ledger_payments(seeded: Database, settings: Settings) -> Payments:
    return Payments.from_settings(seeded, settings)


@pytest.fixture
def stripe_client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def demo_driver_id(db: Database) -> int:
    with db.session() as s:
        driver = s.exec(select(Driver).where(Driver.email == "demo.driver@example.com")).one()
        return driver.id or 0


def save_card(payments: Payments, driver_id: int, card: str = "pm_card_visa") -> dict:
    """Save a card for the driver through a confirmed SetupIntent."""
    assert payments.stripe is not None
    with payments.db.session() as s:
        return payments.stripe.start_card_setup(s, driver_id, payment_method=card)


def account(db: Database, driver_id: int) -> DriverAccount | None:
    with db.session() as s:
        return s.get(DriverAccount, driver_id)


@pytest.fixture
async def billing_api(stripe_settings: Settings, database_url: str, seeded: Database):
    """The API app with Stripe pointed at the fake (no Temporal needed by billing routes)."""
    app = create_app(stripe_settings, database_url, temporal=object())  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"X-API-Key": ADMIN_KEY}
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def make_session(
    db: Database,
    session_id: str,
    *,
    driver_id: int | None,
    energy_wh: int,
    minutes: int = 60,
    state: str = "Stopped",
    signed: str | None = None,
    started_at=None,
) -> None:
    """A stored session at DEMO-1 connector 1 with its tariff snapshot and meter readings."""
    from datetime import UTC, datetime, timedelta

    from activities.payments.tariffs import resolve_tariff
    from store.tables import ChargingSession, MeterSample

    start = started_at or datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    stop = start + timedelta(minutes=minutes)
    with db.session() as s:
        tariff = resolve_tariff(s, "DEMO-1", connector_id=1, driver_id=driver_id)
        s.add(
            ChargingSession(
                id=session_id,
                station_id="DEMO-1",
                connector_id=1,
                transaction_id=session_id,
                driver_id=driver_id,
                state=state,
                tariff=tariff.model_dump(mode="json"),
                started_at=start,
                stopped_at=stop,
                meter_start_wh=1000,
                meter_stop_wh=1000 + energy_wh,
            )
        )
        s.add(
            MeterSample(
                session_id=session_id,
                station_id="DEMO-1",
                connector_id=1,
                transaction_id=session_id,
                timestamp=start + (stop - start) / 2,
                value=(1000 + energy_wh / 2) / 1000,
                unit="kWh",
            )
        )
        if signed:
            s.add(
                MeterSample(
                    session_id=session_id,
                    station_id="DEMO-1",
                    connector_id=1,
                    transaction_id=session_id,
                    timestamp=stop,
                    value=1000 + energy_wh,
                    unit="Wh",
                    context="Transaction.End",
                    signed_data=signed,
                )
            )


def rate_stored(db: Database, session_id: str, idle=None) -> int:
    """Rate a stored session with the timeline rating; returns the total."""
    from activities.payments.rating import rate_stored_session
    from domain.payments import TimelineRateRequest
    from store.tables import ChargingSession

    with db.session() as s:
        row = s.get(ChargingSession, session_id)
        rated = rate_stored_session(
            s, row, TimelineRateRequest(session_id=session_id, idle=idle or [])
        )
        return rated.rating.total


@pytest.fixture
async def stripe_worker(temporal_client, seeded, stripe_settings):
    """A session worker whose payments go to the fake Stripe."""
    worker = build_worker(
        temporal_client,
        seeded,
        stripe_settings.task_queue,
        settings=stripe_settings,
    )
    async with worker:
        yield worker


@pytest.fixture
async def stripe_api(stripe_settings, database_url, temporal_client, seeded):
    """The API (with Temporal) whose payments go to the fake Stripe."""
    app = create_app(stripe_settings, database_url, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"X-API-Key": ADMIN_KEY},
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
