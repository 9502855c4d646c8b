"""Fixtures of the browser tests: the API on a real port, Chromium, operator accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PASSWORD, screenshot_dir
from tests.virtual_chargers.fixtures import live_api, make_charger

__all__ = ["live_api", "make_charger"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    yield page
    await context.close()


@pytest.fixture
def base_url(live_api: httpx.AsyncClient) -> str:
    return str(live_api.base_url).rstrip("/")


@pytest.fixture
def operator(live_api: httpx.AsyncClient) -> Callable[[str], Awaitable[str]]:
    """`await operator("technician")`: a new operator account with that role; its e-mail."""

    async def make(role: str) -> str:
        email = f"{role}@console.example.com"
        answer = await live_api.post(
            "/operators", json={"email": email, "name": role.title(), "role": role,
                                "password": PASSWORD},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        return email

    return make


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path / "screenshots")
