"""Editing a tariff from the console: the preview prices with the new values at once, while a
session that was already charging keeps the prices it started with, to its end."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION, DEMO_TAG
from tests.console.browser import sign_in

FAST_16 = {"MeterValueSampleInterval": "1"}
# The demo tariff "Standard": 0.35 EUR/kWh + 1.20 EUR/h + 0.50 EUR, plus 20 % VAT. The preview's
# 20 kWh over 60 min: (7.00 + 1.20 + 0.50) × 1.2 = 10.44 EUR; at 0.70 EUR/kWh: 18.84 EUR.
BEFORE, AFTER = "10.44 EUR", "18.84 EUR"


async def _preview(page: Page) -> None:
    section = page.locator("#preview")
    await section.get_by_label("Tariff").select_option(label="Standard")
    await section.get_by_label("Energy (Wh)").fill("20000")
    await section.get_by_label("Duration (min)").fill("60")
    await section.get_by_role("button", name="Preview").click()


async def test_edit_a_tariff_preview_changes_a_running_session_keeps_its_price(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator
):
    await make_charger(DEMO_STATION, connectors=2, max_power_w=22_000, configuration=FAST_16)
    await sign_in(page, base_url, await operator("admin"))
    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await expect(page.locator(f'[data-connector="{DEMO_STATION}/1"]')).to_have_text("Available")
    await page.get_by_label("Card for connector 1").fill(DEMO_TAG)
    await page.get_by_role("button", name="Start charging on #1").click()
    await expect(page).to_have_url(re.compile(r"/console/sessions/session-DEMO-1-\d+$"))
    session_url = page.url
    await expect(page.locator('[data-field="state"]')).to_have_text("Charging")

    await page.goto(f"{base_url}/console/tariffs")
    await _preview(page)
    await expect(page.locator("#preview .big")).to_contain_text(BEFORE)

    await page.get_by_role("link", name="Edit Standard").click()
    edit = page.locator("#edit")
    await expect(edit.get_by_role("heading", name="Edit tariff Standard")).to_be_visible()
    await expect(edit.get_by_label("Energy per kWh")).to_have_value("0.35")
    await edit.get_by_label("Energy per kWh").fill("0.70")
    await edit.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#flash")).to_contain_text("Tariff saved")
    row = page.get_by_role("row", name=re.compile("Standard"))
    await expect(row).to_contain_text("0.70 EUR/kWh")

    await _preview(page)
    await expect(page.locator("#preview .big")).to_contain_text(AFTER)

    # The running session was priced with the tariff it started with, and stays so.
    await page.goto(session_url)
    breakdown = page.locator("details", has_text="Tariff and cost breakdown")
    await breakdown.locator("summary").click()
    await expect(breakdown).to_contain_text('"energy_price_per_kwh": 35')
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Stop session").click()
    await expect(page.locator('[data-field="state"]')).to_have_text("Completed", timeout=60_000)
    breakdown = page.locator("details", has_text="Tariff and cost breakdown")
    await breakdown.locator("summary").click()
    await expect(breakdown).to_contain_text('"energy_price_per_kwh": 35')
    await expect(breakdown).not_to_contain_text('"energy_price_per_kwh": 70')
