"""Swagger UI at /docs works with no internet: every file it loads comes from the API."""

from __future__ import annotations

from playwright.async_api import Page, Route, expect


async def test_swagger_ui_renders_from_local_files_only(live_api, page: Page, base_url):
    outside: list[str] = []

    async def only_local(route: Route) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto(f"{base_url}/docs")
    await expect(page.get_by_role("heading", name="Ampflow API")).to_be_visible()
    await expect(page.get_by_text("/stations/{station_id}/reset").first).to_be_visible()
    assert outside == []
    answer = await page.goto(f"{base_url}/redoc")
    assert answer is not None and answer.url.endswith("/docs")
