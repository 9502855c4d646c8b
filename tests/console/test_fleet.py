"""Signing in and watching the fleet live, in Chromium against the real stack."""

from __future__ import annotations

from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION
from tests.console.browser import PHONE, sign_in


async def test_sign_in_and_watch_a_charger_come_online(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator, shots
):
    email = await operator("technician")
    await sign_in(page, base_url, email)
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    link = page.locator(f'[data-online="{DEMO_STATION}"]')
    await expect(link).to_have_text("offline")
    await expect(page.locator("[data-live-state]")).to_have_text("live")  # the stream is up

    await make_charger(DEMO_STATION, vendor="Acme", model="X1", connectors=2)

    await expect(link).to_have_text("online")  # pushed by SSE: the page is not reloaded
    await expect(page.locator("[data-stat=online]")).to_have_text("1")
    await expect(page.locator("[data-stat=offline]")).to_have_text("0")
    await expect(page.locator(f'[data-model="{DEMO_STATION}"]')).to_have_text("Acme X1")
    await expect(page.locator(f'[data-connector="{DEMO_STATION}/1"]')).to_have_text("Available")
    await expect(page.locator(f'[data-firmware="{DEMO_STATION}"]')).not_to_have_text("–")
    await page.screenshot(path=shots / "fleet.png", full_page=True)

    await page.set_viewport_size(PHONE)  # a technician in the field
    await page.reload()
    await expect(page.locator(f'[data-online="{DEMO_STATION}"]')).to_have_text("online")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the fleet page scrolls sideways on a phone ({width}px)"
    await page.keyboard.press("Tab")  # by keyboard: the first stop skips to the content
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.screenshot(path=shots / "fleet-phone.png", full_page=True)

    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "ampflow_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
