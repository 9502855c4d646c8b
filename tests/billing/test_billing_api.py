"""Billing API: tariffs with elements, previews, overrides, accounts, refunds, statements."""

from __future__ import annotations

import httpx

from activities.payments.service import Payments
from domain.payments import HoldRequest, SettleRequest
from tests.billing.conftest import demo_driver_id

PEAK = {
    "name": "Peak/off-peak",
    "energy_price_per_kwh": 30,
    "time_price_per_hour": 120,
    "session_fee": 50,
    "vat_rate_bp": 1900,
    "idle_price_per_hour": 600,
    "idle_grace_minutes": 30,
    "idle_fee_cap": 1000,
    "time_zone": "Europe/Berlin",
    "elements": [
        {
            "label": "peak",
            "price_components": [{"type": "ENERGY", "price": 50}],
            "restrictions": {"start_time": "08:00", "end_time": "20:00"},
        }
    ],
}


async def test_tariff_with_elements_and_previews(billing_api: httpx.AsyncClient) -> None:
    created = await billing_api.post("/tariffs", json=PEAK)
    assert created.status_code == 201, created.text
    tariff = created.json()
    assert tariff["elements"][0]["restrictions"]["start_time"] == "08:00"
    assert (await billing_api.get(f"/tariffs/{tariff['id']}")).json()["idle_fee_cap"] == 1000

    # 19:00-21:00 local: 10 kWh peak (500) + 10 kWh off-peak (300); fee 50; then 1 h idle,
    # 30 min free: 30 min * 0.10 = 300; time over the whole 3 h (time_basis "session") = 360.
    # Net 1510, VAT 19 % = 286.9 -> 287, total 1797.
    preview = await billing_api.get(
        f"/tariffs/{tariff['id']}/preview",
        params={
            "energy_wh": 20_000,
            "duration_s": 7200,
            "idle_s": 3600,
            "start": "2026-03-10T19:00:00+01:00",
        },
    )
    assert preview.status_code == 200, preview.text
    rating = preview.json()["rating"]
    assert [(x["component"], x["amount"]) for x in rating["lines"]] == [
        ("energy", 500),
        ("energy", 300),
        ("time", 360),
        ("session", 50),
        ("idle", 300),
    ]
    assert (rating["net"], rating["vat"], rating["total"]) == (1510, 287, 1797)
    assert preview.json()["prices"]["idle"] == "6.00 EUR/h (0.10 EUR/min) after 30 min"

    # Station DEMO-1 uses the default (demo) tariff; connector 2 gets this one.
    station = await billing_api.get(
        "/stations/DEMO-1/price-preview", params={"energy_wh": 10_000, "duration_s": 3600}
    )
    assert station.json()["tariff_name"] == "Standard"
    assert station.json()["rating"]["total"] == 624  # (350 + 120 + 50) * 1.2
    put = await billing_api.put(
        "/stations/DEMO-1/connectors/2/tariff", json={"tariff_id": tariff["id"]}
    )
    assert put.status_code == 200
    connector = await billing_api.get(
        "/stations/DEMO-1/price-preview",
        params={
            "energy_wh": 10_000,
            "duration_s": 3600,
            "connector_id": 2,
            "start": "2026-03-10T12:00:00+00:00",
        },
    )
    assert connector.json()["tariff_name"] == "Peak/off-peak"
    group = await billing_api.put("/tariff-groups/FLEET", json={"tariff_id": tariff["id"]})
    assert group.status_code == 200

    bad = dict(PEAK, name="bad", min_price=500, max_price=100)
    assert (await billing_api.post("/tariffs", json=bad)).status_code == 422


async def test_accounts_refunds_and_statement(
    billing_api: httpx.AsyncClient, payments: Payments
) -> None:
    driver = demo_driver_id(payments.db)
    card = await billing_api.post(
        f"/drivers/{driver}/cards", json={"payment_method": "pm_card_visa"}
    )
    assert card.status_code == 201 and card.json()["card"]["last4"] == "4242"
    account = await billing_api.put(f"/drivers/{driver}/account", json={"credit_limit": 5000})
    assert account.json()["credit_limit"] == 5000

    payments.place_hold(HoldRequest(session_id="api-1", station_id="DEMO-1", driver_id=driver))
    payments.settle(
        SettleRequest(session_id="api-1", driver_id=driver, amount=1500, currency="EUR")
    )
    refund = await billing_api.post(
        "/sessions/api-1/refunds",
        json={"amount": 500, "reason": "connector fault"},
        headers={"Idempotency-Key": "ticket-42"},
    )
    assert refund.status_code == 201, refund.text
    repeat = await billing_api.post(
        "/sessions/api-1/refunds",
        json={"amount": 500, "reason": "connector fault"},
        headers={"Idempotency-Key": "ticket-42"},
    )
    assert repeat.json() == refund.json()
    too_much = await billing_api.post(
        "/sessions/api-1/refunds", json={"amount": 1001, "reason": "x"}
    )
    assert too_much.status_code == 409
    listed = (await billing_api.get("/sessions/api-1/payments")).json()
    kinds = {p["kind"]: p for p in listed["payments"]}
    assert kinds["charge"]["amount_refunded"] == 500
    assert kinds["hold"]["amount_captured"] == 1500
    assert [r["refund_key"] for r in listed["refunds"]] == ["ticket-42"]

    top_up = await billing_api.post(
        f"/drivers/{driver}/top-ups", json={"amount": 2000, "reference": "bank-1"}
    )
    assert top_up.json()["balance"] == -2000
    statement = await billing_api.get(f"/drivers/{driver}/statement")
    assert statement.status_code == 200
    assert statement.json()["closing_balance"] == -2000
    report = await billing_api.get("/payments/reconciliation", params={"provider": True})
    assert report.status_code == 200
