"""Every console page opens for an admin without a script error, and the controls that build
typed bodies (money, numbers, booleans, lists, path fields) reach their routes; the driver
pages too, for a driver who registered through the API."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION
from tests.access.helpers import PASSWORD as DRIVER_PASSWORD
from tests.access.helpers import driver_account
from tests.console.browser import sign_in
from tests.console.form_schema import FORMS_JS, problems

PAGES = {
    "/console": "Fleet",
    f"/console/stations/{DEMO_STATION}": f"Station {DEMO_STATION}",
    "/console/sessions": "Sessions",
    "/console/maintenance": "Maintenance",
    "/console/alerts": "Alerts",
    "/console/analytics": "Analytics",
    "/console/drivers": "Drivers and cards",
    "/console/drivers/1": "Demo Driver",
    "/console/tariffs": "Tariffs and plans",
    "/console/network": "Network",
    "/console/audit": "Audit log",
    "/console/admin": "Operators and API keys",
    "/console/account": "Your account",
}


async def test_every_page_opens_and_typed_controls_reach_the_api(
    seeded, live_api, page: Page, base_url, operator
):
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await sign_in(page, base_url, await operator("admin"))
    for odd in ("/console/stations/NO%3Flimit%3D1", "/console/sessions/x%23y"):  # ? and # in ids
        answer = await page.goto(base_url + odd)
        assert answer is not None and answer.status == 404, odd
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    forms = []
    for path, heading in PAGES.items():
        answer = await page.goto(base_url + path)
        assert answer is not None and answer.status == 200, path
        await expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        forms += await page.evaluate(FORMS_JS)
    assert errors == []
    assert len(forms) > 40
    spec = (await live_api.get("/openapi.json")).json()
    found = problems(spec, forms)
    assert found == [], "\n".join(found)  # every field and choice is one the API accepts

    await page.goto(f"{base_url}/console/tariffs")
    await page.get_by_text("New tariff", exact=True).click()
    form = page.locator("form", has=page.get_by_role("button", name="Create tariff"))
    await form.get_by_label("Name").fill("Night")
    await form.get_by_label("Energy per kWh").fill("0.29")
    await form.get_by_label("prices include VAT").check()
    await form.get_by_role("button", name="Create tariff").click()
    row = page.get_by_role("row", name=re.compile("Night"))
    await expect(row).to_contain_text("0.29 EUR/kWh")
    await row.get_by_role("link", name="Preview a price").click()
    await expect(page.locator("#preview .big")).to_contain_text("EUR")

    await page.goto(f"{base_url}/console/admin")
    form = page.locator("form", has=page.get_by_role("button", name="Create API key"))
    await form.get_by_label("Name").fill("billing export")
    await form.get_by_label("Role").select_option("analyst")
    await form.get_by_role("button", name="Create API key").click()
    await expect(page.locator("#new-key")).to_contain_text('"key": "ak_')  # shown once

    await page.goto(f"{base_url}/console/drivers")
    await page.get_by_text("Issue a card", exact=True).click()
    form = page.locator("form", has=page.get_by_role("button", name="Issue card"))
    await form.get_by_label("Token (RFID UID)").fill("CARD-42")
    await form.get_by_label("Driver id").fill("1")
    await form.get_by_role("button", name="Issue card").click()
    card = page.get_by_role("row", name=re.compile("CARD-42"))
    await card.get_by_label("Status").select_option("Blocked")
    await card.get_by_role("button", name="Save").click()
    status = page.get_by_role("row", name=re.compile("CARD-42")).locator(".badge")
    await expect(status).to_have_text("Blocked")  # after the page reloaded

    await page.goto(f"{base_url}/console/network")
    await page.get_by_text("New location", exact=True).click()
    form = page.locator("form", has=page.get_by_role("button", name="Create location"))
    await form.get_by_label("Id").fill("berlin-1")
    await form.get_by_label("Name").fill("Berlin Mitte")
    await form.get_by_role("button", name="Create location").click()
    place = page.locator("form", has=page.get_by_role("button", name="Place station"))
    await place.get_by_label("Location").select_option(label="Berlin Mitte")
    await place.get_by_role("button", name="Place station").click()
    await expect(page.get_by_role("row", name=re.compile("berlin-1"))).to_contain_text(DEMO_STATION)

    await page.goto(f"{base_url}/console/audit")
    await expect(page.get_by_role("cell", name="api_key.create")).to_be_visible()
    assert errors == []


async def test_driver_pages(seeded, api, live_api, page: Page, base_url):
    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as app:
        driver = await driver_account(app, "ada@example.com", "Ada")  # no operator key
    assert driver["driver_id"]
    await page.goto(f"{base_url}/driver")
    await expect(page.get_by_role("heading", name="Driver sign-in")).to_be_visible()
    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.get_by_label("Password").fill(DRIVER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Hello Ada")).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile(DEMO_STATION))).to_be_visible()
    await expect(page.get_by_text("Price:")).to_contain_text("EUR")
    await page.get_by_role("link", name="My sessions and receipts").click()
    await expect(page.get_by_role("heading", name="My sessions")).to_be_visible()
    forms = await page.evaluate(FORMS_JS)
    await page.goto(f"{base_url}/driver/account")
    forms += await page.evaluate(FORMS_JS)
    spec = (await live_api.get("/openapi.json")).json()
    assert len(forms) >= 4 and problems(spec, forms) == []
    answer = await page.goto(f"{base_url}/console")
    assert answer is not None and answer.status == 403  # a driver is no operator
