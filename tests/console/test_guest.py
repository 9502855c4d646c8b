"""The QR-code journey of a guest on a phone: the price, paying on the payment provider's own
checkout page (the fake Stripe's local one: a declined card, then one that works), back to our
page as Stripe's webhooks arrive, the session live on its own stream, and the receipt."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from runtime.settings import Settings
from store.tables import ChargingSession
from tests.console.browser import PHONE
from tests.fakes.fake_stripe import FakeStripe

FAST_16 = {"MeterValueSampleInterval": "1"}


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


WEBHOOK_SECRET = "whsec_console_test"


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    """Payments through Stripe in test mode (the fake), its webhooks verified: guests can pay."""
    return settings.model_copy(
        update={
            "stripe_api_key": "sk_test_console",
            "stripe_api_base": fake_stripe.url,
            "stripe_webhook_secret": WEBHOOK_SECRET,
        }
    )


async def test_guest_pays_by_qr_code_follows_the_session_and_gets_the_receipt(
    seeded, worker, gateway, live_api, make_charger, browser: Browser, base_url, shots,
    fake_stripe: FakeStripe,
):  # fmt: skip
    charger = await make_charger(DEMO_STATION, connectors=2, configuration=FAST_16)
    phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await phone.new_page()
    page.set_default_timeout(20_000)

    await page.goto(f"{base_url}/charge/{DEMO_STATION}/1")  # what the QR code says
    heading = page.get_by_role("heading", name=f"Charge at {DEMO_STATION}, connector 1")
    await expect(heading).to_be_visible()
    await expect(page.get_by_text("20 kWh in one hour costs")).to_contain_text("EUR")
    await page.screenshot(path=shots / "guest-price.png", full_page=True)

    fake_stripe.send_webhooks(f"{base_url}/webhooks/stripe", WEBHOOK_SECRET)
    await page.get_by_label("E-mail for the receipt (optional)").fill("guest@example.com")
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page).to_have_url(re.compile(rf"^{re.escape(fake_stripe.url)}/checkout/pay/cs_"))
    await expect(page.get_by_role("heading", name=re.compile(r"^Pay .*eur"))).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_have_value("guest@example.com")
    await page.screenshot(path=shots / "guest-checkout.png", full_page=True)

    await page.get_by_label("Card").select_option("chargeDeclined")
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await expect(page.get_by_role("alert")).to_contain_text("declined")
    await page.get_by_label("Card").select_option("visa")
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await expect(page).to_have_url(
        re.compile(rf"^{re.escape(base_url)}/guest/G[0-9a-f]+\?checkout=cs_")
    )
    state, energy = page.locator('[data-field="state"]'), page.locator('[data-field="energy"]')
    await expect(state).to_have_text("Charging", timeout=30_000)
    await expect(energy).not_to_have_text(re.compile(r"^(–|0\.000 kWh)$"))
    await page.screenshot(path=shots / "guest-live.png", full_page=True)

    await charger.sessions.stop(1, "Local")  # the guest stops at the charger
    await expect(state).to_have_text("Completed", timeout=60_000)
    receipt = page.get_by_role("link", name="view")
    await expect(receipt).to_be_visible()
    await page.screenshot(path=shots / "guest-receipt-link.png", full_page=True)
    await receipt.click()
    await expect(page.get_by_text(DEMO_STATION).first).to_be_visible()
    await phone.close()

    (intent,) = fake_stripe.payment_intents.values()  # one hold, captured for the session
    token = intent["metadata"]["guest_token"]
    with seeded.session() as db:
        (session,) = db.exec(select(ChargingSession).where(ChargingSession.id_token == token))
    assert intent["capture_method"] == "manual" and intent["status"] == "succeeded"
    assert fake_stripe.charges_captured_total(intent["id"]) == session.total_amount
    completed = [d for d in fake_stripe.webhook_deliveries if d["type"].startswith("checkout.")]
    assert {d["type"] for d in completed} == {"checkout.session.completed"}
    assert completed[-1]["status"] == 200  # Stripe's webhook was taken (after the return)
