"""Maintenance from the console: upload an image, update a virtual charger's firmware, watch
the job to its end."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from ampflow.seed import DEMO_STATION
from tests.console.browser import sign_in


def image_of(version: str) -> bytes:
    """A firmware image that installs `version` (its first line says so, see chargers/)."""
    return f"AMPFLOW-FIRMWARE {version}\n".encode() + b"\x7fELF " + bytes(range(256)) * 64


async def test_firmware_update_of_a_virtual_charger_to_the_end(
    seeded, worker, gateway, live_api, make_charger, page: Page, base_url, operator, shots
):
    charger = await make_charger(DEMO_STATION, vendor="Acme", model="X1", connectors=2)
    await sign_in(page, base_url, await operator("technician"))

    await page.goto(f"{base_url}/console/maintenance")
    await page.get_by_text("Upload an image").click()
    upload = page.locator("details", has_text="Upload an image")
    await upload.get_by_label("File").set_input_files(
        {"name": "x1-2.0.bin", "mimeType": "application/octet-stream", "buffer": image_of("2.0")}
    )
    await upload.get_by_label("Version").fill("2.0")
    await upload.get_by_label("Vendor").fill("Acme")
    await upload.get_by_label("Model").fill("X1")
    await upload.get_by_role("button", name="Upload firmware").click()
    await expect(page.get_by_role("cell", name="x1-2.0.bin")).to_be_visible()

    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await page.get_by_role("link", name="Ask the charger for its configuration").click()
    await expect(page.get_by_role("cell", name="HeartbeatInterval", exact=True)).to_be_visible()
    change = page.locator("form", has=page.get_by_role("button", name="Change configuration"))
    await change.get_by_label("Key").fill("MeterValueSampleInterval")
    await change.get_by_label("Value").fill("5")
    await change.get_by_role("button", name="Change configuration").click()
    await expect(page.locator("#flash")).to_have_text("Change configuration: done.")
    await expect(page.locator("#config-result")).to_contain_text("MeterValueSampleInterval")

    trigger = page.locator("form", has=page.get_by_role("button", name="Trigger"))
    await trigger.get_by_label("Trigger message").select_option("Heartbeat")
    await trigger.get_by_role("button", name="Trigger").click()
    await expect(page.locator("#command-result")).to_contain_text('"outcome": "ok"')

    log = page.get_by_role("table", name="OCPP messages")
    await page.get_by_label("Action", exact=True).fill("TriggerMessage")
    await page.get_by_role("button", name="Filter").click()
    await expect(log.get_by_role("row")).to_have_count(2)  # the header and the one CALL
    await expect(log).not_to_contain_text("BootNotification")

    await page.get_by_role("button", name="Get diagnostics").click()
    await expect(page).to_have_url(re.compile(r"/console/maintenance/diagnostics-"))
    await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=60_000)
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download the diagnostics file").click()
    assert (await download.value).suggested_filename

    await page.goto(f"{base_url}/console/stations/{DEMO_STATION}")
    await page.get_by_label("Firmware image").select_option(label="2.0 (Acme X1)")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Update firmware").click()
    await expect(page).to_have_url(re.compile(r"/console/maintenance/firmware-"))
    await expect(page.get_by_role("link", name="Workflow in the Temporal UI")).to_be_visible()

    await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=90_000)
    await page.screenshot(path=shots / "firmware-job.png", full_page=True)
    assert charger.state.firmware_version == "2.0"  # the charger rebooted into it

    await page.goto(f"{base_url}/console")
    await expect(page.locator(f'[data-firmware="{DEMO_STATION}"]')).to_have_text("2.0")
    await page.goto(f"{base_url}/console/maintenance")
    await expect(
        page.get_by_role("row", name=re.compile("firmware_update.*succeeded"))
    ).to_be_visible()
    await page.screenshot(path=shots / "maintenance.png", full_page=True)

    # A fleet rollout of the next image, in waves (one station here), to its end.
    await page.get_by_text("Upload an image").click()
    await upload.get_by_label("File").set_input_files(
        {"name": "x1-2.1.bin", "mimeType": "application/octet-stream", "buffer": image_of("2.1")}
    )
    await upload.get_by_label("Version").fill("2.1")
    await upload.get_by_role("button", name="Upload firmware").click()
    await expect(page.get_by_role("cell", name="x1-2.1.bin")).to_be_visible()
    await page.get_by_text("Fleet rollout").click()
    rollout = page.locator("form", has=page.get_by_role("button", name="Start rollout"))
    await rollout.get_by_label("Name").fill("x1-2-1")
    await rollout.get_by_label("Firmware").select_option(label="2.1 (any )")
    await rollout.get_by_label(re.compile("^Stations")).fill(DEMO_STATION)
    page.once("dialog", lambda dialog: dialog.accept())
    await rollout.get_by_role("button", name="Start rollout").click()
    await expect(page).to_have_url(re.compile(r"/console/maintenance/rollout-x1-2-1$"))
    await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=90_000)
    assert charger.state.firmware_version == "2.1"
