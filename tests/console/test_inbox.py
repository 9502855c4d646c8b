"""The pending-station inbox: an unknown charger connects, the fleet page says so live, a
technician approves it, and its next boot is accepted."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from runtime.settings import Settings
from tests.console.browser import sign_in
from tests.helpers import eventually


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"gateway_admit_unknown_stations": True})


async def test_an_unknown_charger_waits_in_the_inbox_until_approved(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator, shots
):
    await sign_in(page, base_url, await operator("technician"))
    await expect(page.locator("[data-live-state]")).to_have_text("live")

    charger = await make_charger("NEW-7", password="first-contact-pw-16", boot=False)
    await expect(page.locator("#flash")).to_contain_text("Station NEW-7 connected")
    await page.get_by_role("link", name="Show it").click()
    inbox = page.get_by_role("region", name="Pending stations (1)")
    await expect(inbox).to_contain_text("NEW-7")
    await page.screenshot(path=shots / "inbox.png", full_page=True)

    await inbox.get_by_role("button", name="Approve NEW-7").click()
    await expect(page.get_by_role("region", name="Pending stations (1)")).to_have_count(0)
    # The charger boots again after the interval its Pending answer gave (60 s): Accepted.
    await eventually(lambda: charger.boot_status == "Accepted", timeout=90)
