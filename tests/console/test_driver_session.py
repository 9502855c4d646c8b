"""A signed-in driver charges from the driver pages: start at a connector, follow the session on
its own stream, stop it, open the receipt."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION
from tests.access.helpers import PASSWORD, driver_account
from tests.console.browser import PHONE

FAST_16 = {"MeterValueSampleInterval": "1"}


async def test_a_driver_starts_follows_and_stops_a_session(
    seeded, worker, gateway, api, live_api, make_charger, page: Page, base_url, shots
):
    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as app:
        await driver_account(app, "ada@example.com", "Ada")
    await make_charger(DEMO_STATION, connectors=2, configuration=FAST_16)
    await page.set_viewport_size(PHONE)
    await page.goto(f"{base_url}/driver/login")
    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()

    await page.get_by_role("button", name="Start on connector 1").click()
    await expect(page).to_have_url(re.compile("/driver/sessions$"))
    session = page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d|–")).first
    await expect(session).to_be_visible()
    await session.click()
    state = page.locator('[data-field="state"]')
    await expect(state).to_have_text("Charging", timeout=30_000)
    await expect(page.locator('[data-field="energy"]')).not_to_have_text(
        re.compile(r"^(–|0\.000 kWh)$")
    )
    await page.screenshot(path=shots / "driver-live.png", full_page=True)

    await page.get_by_role("button", name="Stop charging").click()
    await expect(state).to_have_text("Completed", timeout=60_000)
    receipt = page.get_by_role("link", name="view")
    await expect(receipt).to_be_visible()
    await receipt.click()
    await expect(page.get_by_text(DEMO_STATION).first).to_be_visible()
