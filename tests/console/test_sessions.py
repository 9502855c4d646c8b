"""A session from the console: remote start, energy rising live, stop, receipt."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION, DEMO_TAG
from tests.console.browser import sign_in

FAST_16 = {"MeterValueSampleInterval": "1"}


async def test_remote_start_watch_energy_rise_stop_and_open_the_receipt(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator, shots
):
    await make_charger(DEMO_STATION, connectors=2, max_power_w=22_000, configuration=FAST_16)
    await sign_in(page, base_url, await operator("admin"))
    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await expect(page.locator(f'[data-connector="{DEMO_STATION}/1"]')).to_have_text("Available")
    await page.screenshot(path=shots / "station.png", full_page=True)

    await page.get_by_label("Card for connector 1").fill(DEMO_TAG)
    await page.get_by_role("button", name="Start charging on #1").click()
    await expect(page).to_have_url(re.compile(r"/console/sessions/session-DEMO-1-\d+$"))

    state, energy = page.locator('[data-field="state"]'), page.locator('[data-field="energy"]')
    await expect(state).to_have_text("Charging")
    await expect(energy).not_to_have_text(re.compile(r"^(–|0\.000 kWh)$"))
    first = await energy.text_content()
    await expect(energy).not_to_have_text(first or "")  # it keeps rising, pushed by the stream
    assert _wh(await energy.text_content()) > _wh(first)
    await expect(page.locator('[data-field="cost"]')).to_have_text(re.compile(r"\d+\.\d\d EUR"))
    await page.screenshot(path=shots / "session-live.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Stop session").click()
    await expect(page.locator("#flash")).to_contain_text("Stop requested")
    await expect(state).to_have_text("Completed", timeout=60_000)
    receipt = page.get_by_role("link", name="HTML")
    await expect(receipt).to_be_visible()
    await expect(page.get_by_role("link", name="PDF")).to_be_visible()
    await expect(page.get_by_role("cell", name="ledger").first).to_be_visible()  # payments too
    await page.screenshot(path=shots / "session-completed.png", full_page=True)

    session_id = page.url.rsplit("/", 1)[1]
    await page.get_by_text("Refund this session").click()
    refund = page.locator("form", has=page.get_by_role("button", name="Refund"))
    await refund.get_by_label(re.compile("^Amount")).fill("0.10")
    await refund.get_by_label("Reason").fill("goodwill")
    page.once("dialog", lambda dialog: dialog.accept())
    await refund.get_by_role("button", name="Refund").click()
    await expect(page.get_by_text(re.compile(r"^Refund .*0\.10 EUR"))).to_be_visible()
    await receipt.click()
    await expect(page.get_by_text(DEMO_STATION).first).to_be_visible()
    await expect(page.get_by_text(re.compile("receipt", re.I)).first).to_be_visible()

    listed = page.get_by_role("link", name=session_id)
    today = date.today()
    around = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    await page.goto(f"{base_url}/console/sessions?driver_id=1&state=Completed&{around}")
    await expect(listed).to_be_visible()
    await page.goto(f"{base_url}/console/sessions?from=2020-01-01&to=2020-01-02")
    await expect(page.get_by_text("No sessions.")).to_be_visible()
    await page.goto(f"{base_url}/console/sessions?q={session_id}")  # search by id
    await expect(page.get_by_role("heading", name=f"Session {session_id}")).to_be_visible()


def _wh(text: str | None) -> float:
    return float((text or "0").split()[0].replace(",", ""))
