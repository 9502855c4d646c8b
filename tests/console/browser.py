"""Chromium from Debian's package, driven by Playwright (no browser download), and helpers for
journeys through the console: sign in, screenshots."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page, expect

CHROMIUM = os.environ.get("AMPFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
PASSWORD = "correct horse battery staple"


def screenshot_dir(fallback: Path) -> Path:
    """Where the run keeps its screenshots: `AMPFLOW_SCREENSHOTS_DIR` (the README's come from
    `docs/screenshots`), else the test's temporary directory."""
    given = os.environ.get("AMPFLOW_SCREENSHOTS_DIR")
    path = Path(given) if given else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


async def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the console's own form, as a person would."""
    await page.goto(f"{base_url}/console")
    await expect(page.get_by_role("heading", name="Sign in to Ampflow")).to_be_visible()
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
