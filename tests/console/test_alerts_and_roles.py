"""Alerts from the console, and roles: what an analyst can and cannot see or do."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION
from tests.console.browser import sign_in


async def test_acknowledge_and_resolve_an_alert(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator, shots
):
    charger = await make_charger(DEMO_STATION, connectors=2)
    await sign_in(page, base_url, await operator("technician"))
    await page.goto(f"{base_url}/console/alerts")
    await expect(page.locator("[data-live-state]")).to_have_text("live")
    # The session cookie alone changes nothing: without the page's CSRF token, 403.
    call = """async (token) => {
        const headers = {"Content-Type": "application/json"};
        const meta = document.querySelector('meta[name=csrf-token]');
        if (token) headers["X-CSRF-Token"] = meta.content;
        const answer = await fetch(
            "/alerts/999999/acknowledge", {method: "POST", headers, body: "{}"});
        return [answer.status, await answer.text()];
    }"""
    status, text = await page.evaluate(call, False)
    assert status == 403 and "CSRF" in text
    status, text = await page.evaluate(call, True)
    assert status == 404  # with it, the technician reaches the route (no such alert)

    await charger.fault(2, "GroundFailure")  # stays faulted: probes and resets do not clear it
    feed = page.locator("[data-alert-feed]")
    await expect(feed).to_contain_text("connector_faulted")  # pushed live
    await page.reload()
    row = page.get_by_role("row", name=re.compile("connector faulted"))
    await expect(row.locator(".badge").first).to_have_text("open")
    await row.get_by_role("button", name="Acknowledge").click()
    await expect(row.locator(".badge").first).to_have_text("acknowledged")
    await expect(row).to_contain_text("by operator:")
    await page.screenshot(path=shots / "alerts.png", full_page=True)

    await row.get_by_label("Note").fill("cable replaced")
    await row.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#flash")).to_have_text("Resolve: done.")


async def test_an_analyst_cannot_see_admin_pages_nor_send_commands(
    seeded, live_api, page: Page, base_url, operator
):
    await sign_in(page, base_url, await operator("analyst"))
    menu = page.get_by_role("navigation", name="Console")
    await expect(menu.get_by_role("link", name="Analytics")).to_be_visible()
    await expect(menu.get_by_role("link", name="Operators")).to_have_count(0)

    answer = await page.goto(f"{base_url}/console/admin")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("Your role may not")

    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await expect(page.get_by_role("button", name="Reset")).to_have_count(0)
    # The server decides, not the page: the same request with the analyst's session is refused.
    status = await page.evaluate(
        """async () => (await fetch("/stations/DEMO-1/reset", {method: "POST",
             headers: {"X-CSRF-Token": document.querySelector('meta[name=csrf-token]').content,
                       "Content-Type": "application/json"}, body: "{}"})).status"""
    )
    assert status == 403
    # Without the CSRF token, a state change from the cookie alone is refused too.
    status = await page.evaluate(
        """async () => (await fetch("/stations/DEMO-1/reset", {method: "POST",
             headers: {"Content-Type": "application/json"}, body: "{}"})).status"""
    )
    assert status == 403

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Ampflow")).to_be_visible()
    answer = await page.goto(f"{base_url}/console/analytics")
    assert answer is not None and answer.status == 401  # the session was revoked
