"""Every console page on a phone-sized screen (390 × 844), for an operator, a driver and a guest:
the page never scrolls sideways, and every control on it (link, button, field) lies within the
screen's width or inside a box that scrolls on its own (a wide table). And by keyboard only:
signing in, and editing a tariff, with Tab, typing and Enter."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from ampflow.seed import DEMO_STATION, DEMO_TAG
from runtime.settings import Settings
from tests.access.helpers import PASSWORD as DRIVER_PASSWORD
from tests.access.helpers import driver_account
from tests.console.browser import PASSWORD, PHONE, sign_in
from tests.fakes.fake_stripe import FakeStripe

FAST_16 = {"MeterValueSampleInterval": "1"}
# What a page shows past the screen's right edge: the page's own width beyond the screen, and
# each visible control (not inside a box scrolling sideways) reaching past either edge, and each
# table made to reflow on a phone (`table.responsive`) wider than the screen. The
# screen's width is given, not read: a phone's browser widens its layout viewport (innerWidth)
# to fit content wider than the screen, so `scrollWidth <= innerWidth` would always hold there.
LAYOUT_JS = """(width) => {
  const scrolls = (el) => {  // inside a box that scrolls sideways (a table made to reflow: no)
    if (el.closest("table.responsive")) return false;
    for (let node = el.parentElement; node; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowX;
      if ((overflow === "auto" || overflow === "scroll") && node !== document.body
          && node !== document.documentElement) return true;
    }
    return false;
  };
  const name = (el) => {
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.innerText || el.value || el.name || "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${cls} '${text}'`;
  };
  const controls = "main a, main button, main input, main select, main textarea, " +
    "main summary, header a, header button";
  const outside = [];
  for (const table of document.querySelectorAll("table.responsive")) {
    const box = table.getBoundingClientRect();
    if (box.width && box.right > width + 1) {
      outside.push(`table '${table.getAttribute("aria-label")}' (${Math.round(box.right)}px)`);
    }
  }
  for (const el of document.querySelectorAll(controls)) {
    if (el.type === "hidden" || !el.getClientRects().length) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || scrolls(el)) continue;
    if (box.left < -1 || box.right > width + 1) {
      outside.push(`${name(el)} ${Math.round(box.left)}–${Math.round(box.right)}`);
    }
  }
  const wide = [];
  const scrollWidth = document.scrollingElement.scrollWidth;
  if (scrollWidth > width) {
    for (const el of document.querySelectorAll("body *")) {
      const box = el.getBoundingClientRect();
      if (box.right > width + 1 && !scrolls(el)) wide.push(`${name(el)} right ${box.right}`);
    }
  }
  return {scrollWidth, width, outside, wide: wide.slice(0, 8)};
}"""


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    """Guests can pay (the fake Stripe), so the guest's pages are there to look at too."""
    return settings.model_copy(
        update={"stripe_api_key": "sk_test_phone", "stripe_api_base": fake_stripe.url}
    )


async def _fits(page: Page, url: str, problems: list[str]) -> None:
    answer = await page.goto(url)
    assert answer is not None and answer.status == 200, (url, answer and answer.status)
    await expect(page.locator("main h1").first).to_be_visible()
    layout = await page.evaluate(LAYOUT_JS, PHONE["width"])
    path = url.split("//", 1)[1].split("/", 1)[1]
    if layout["scrollWidth"] > layout["width"]:
        problems.append(f"/{path} scrolls sideways: {layout['scrollWidth']}px; {layout['wide']}")
    problems.extend(f"/{path}: {control} is off the screen" for control in layout["outside"])


async def _session(live_api: httpx.AsyncClient) -> str:
    started = await live_api.post(
        "/sessions", json={"station_id": DEMO_STATION, "connector_id": 2, "id_token": DEMO_TAG}
    )
    assert started.status_code == 202, started.text
    return started.json()["session_id"]


async def test_every_page_fits_a_phone_screen(
    seeded, worker, gateway, api, live_api, make_charger, browser: Browser, base_url, operator,
    shots,
):  # fmt: skip
    await make_charger(DEMO_STATION, connectors=2, configuration=FAST_16)
    async with httpx.AsyncClient(transport=api._transport, base_url=api.base_url) as app:
        await driver_account(app, "ada@example.com", "Ada")
    operator_session = await _session(live_api)
    job = await live_api.post(f"/stations/{DEMO_STATION}/diagnostics", json={})
    assert job.status_code < 300, job.text
    guest = await live_api.post(f"/pay/{DEMO_STATION}/1/checkout", json={})
    assert guest.status_code == 201, guest.text

    phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await phone.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    for signed_out in ("/console/login", "/driver/login", f"/charge/{DEMO_STATION}/1",
                       f"/guest/{guest.json()['token']}"):  # fmt: skip
        await _fits(page, base_url + signed_out, problems)

    await sign_in(page, base_url, await operator("admin"))
    for path in (
        "/console",
        f"/console/stations/{DEMO_STATION}",
        "/console/sessions",
        f"/console/sessions/{operator_session}",
        "/console/maintenance",
        f"/console/maintenance/{job.json()['workflow_id']}",
        "/console/alerts",
        "/console/analytics",
        "/console/drivers",
        "/console/drivers/1",
        "/console/tariffs?edit=1&preview=1",
        "/console/network",
        "/console/audit",
        "/console/admin",
        "/console/account",
    ):
        await _fits(page, base_url + path, problems)
    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await page.get_by_role("table", name="Connectors").screenshot(path=shots / "station-phone.png")
    await page.goto(f"{base_url}/console/audit")
    await page.screenshot(path=shots / "audit-phone.png")
    await page.get_by_role("button", name="Sign out", exact=True).click()

    await page.goto(f"{base_url}/driver/login")
    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.get_by_label("Password").fill(DRIVER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Start on connector 1").click()
    await expect(page).to_have_url(re.compile("/driver/sessions$"))
    mine = page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d|–")).first
    driver_session = await mine.get_attribute("href")
    for path in ("/driver", "/driver/sessions", driver_session, "/driver/account"):
        await _fits(page, f"{base_url}{path}", problems)
    await phone.close()
    assert problems == [], "\n".join(problems)


async def _tab_to(page: Page, test: str, limit: int = 80) -> None:
    """Press Tab until `test` (JS, on `document.activeElement` as `el`) holds."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return {test}; }})()"
        ):
            return
    raise AssertionError(f"Tab never reached an element where {test}")


async def test_sign_in_and_edit_a_tariff_by_keyboard_only(seeded, live_api, page: Page, base_url,
                                                          operator):  # fmt: skip
    email = await operator("admin")
    await page.goto(f"{base_url}/console")
    await expect(page.get_by_role("heading", name="Sign in to Ampflow")).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_be_focused()  # autofocus: type at once
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    await page.goto(f"{base_url}/console/tariffs")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")  # past the menu, into the page
    await _tab_to(page, "el.getAttribute('aria-label') === 'Edit Standard'")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Edit tariff Standard")).to_be_visible()
    await _tab_to(page, "el.name === 'energy_price_per_kwh'")
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.type("0.41")
    await _tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Save changes'")
    await page.keyboard.press("Enter")
    await expect(page.locator("#flash")).to_contain_text("Tariff saved")
    row = page.get_by_role("row", name=re.compile("Standard"))
    await expect(row).to_contain_text("0.41 EUR/kWh")
    await expect(page.locator("#flash")).to_have_attribute("role", "status")
