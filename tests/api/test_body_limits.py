"""Request bodies are bounded per route and counted as they stream in: an oversized body is
answered 413 after at most the limit has been read — with a Content-Length or chunked — and
unauthenticated routes (the Stripe webhook, sign-in and registration) have the smallest
limits. Uploads keep their own, larger limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.main import create_app
from api.request_guard import MIB
from tests.conftest import ADMIN_KEY

CHUNKS = 64  # 64 MiB offered; a bounded server reads at most its limit of it


@pytest.fixture
async def client(settings, database_url, seeded) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(update={"stripe_webhook_secret": "whsec_test"})
    app = create_app(configured, database_url, temporal=object())  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http


class Body:
    """A chunked body of CHUNKS × 1 MiB that counts how much the server pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b"{" + b" " * (MIB - 1)
        for _ in range(CHUNKS):
            self.pulled += 1
            yield chunk


@pytest.mark.parametrize(
    "path",
    ["/webhooks/stripe", "/auth/register", "/auth/token", "/auth/logout", "/drivers"],
)
async def test_chunked_oversized_bodies_stop_at_the_limit(client, path):
    body = Body()
    headers = {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"}
    if path == "/drivers":
        headers["X-API-Key"] = ADMIN_KEY
    response = await client.post(path, content=body, headers=headers)  # no Content-Length
    assert response.status_code == 413, response.text[:200]
    assert body.pulled <= 2, f"{body.pulled} MiB read before refusing"


@pytest.mark.parametrize("path", ["/webhooks/stripe", "/auth/register", "/auth/token"])
async def test_declared_oversized_bodies_are_refused_before_reading(client, path):
    body = Body()

    async def declared() -> AsyncIterator[bytes]:
        async for chunk in body:
            yield chunk

    headers = {"Content-Type": "application/json", "Content-Length": str(CHUNKS * MIB)}
    response = await client.post(path, content=declared(), headers=headers)
    assert response.status_code == 413
    assert body.pulled <= 1


async def test_small_unauthenticated_limit_and_normal_requests_pass(client):
    big_form = {"grant_type": "password", "username": "a@example.com", "password": "x" * 40_000}
    assert (await client.post("/auth/token", data=big_form)).status_code == 413
    ok = await client.post(
        "/auth/token", data={"grant_type": "password", "username": "a@b.com", "password": "x"}
    )
    assert ok.status_code == 400  # evaluated: invalid_grant


async def test_uploads_keep_their_own_larger_limit(client, settings):
    """The firmware upload route accepts more than 1 MiB (and is refused past its limit)."""
    image = b"\x7fELF" + b"\x00" * (2 * MIB)
    response = await client.post(
        "/firmware",
        params={"version": "9.9.9", "file_name": "fw.bin"},
        content=image,
        headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text[:300]
