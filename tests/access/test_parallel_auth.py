"""Sign-outs and lockouts under concurrency, over real HTTP (uvicorn on 127.0.0.1).

- A revocation is durable before its answer: the moment a sign-out, a refresh-token reuse or a
  demotion is answered, the old access token is refused.
- Parallel password guesses meet the limit, even spread over two API processes sharing one
  PostgreSQL: at most `login_max_failures` guesses are evaluated, none answers 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from api.main import create_app
from tests.access.helpers import ADMIN, PASSWORD, bearer, driver_account, operator_account
from tests.access.live import serve

SESSIONS = 30


async def _sign_in(client: httpx.AsyncClient, email: str) -> dict:
    response = await client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_sign_outs_hold_the_moment_they_are_answered(app, http):
    await driver_account(http, "leaver@example.com")
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        pairs = [await _sign_in(client, "leaver@example.com") for _ in range(SESSIONS)]

        async def sign_out_then_use(pair: dict) -> int:
            out = await client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})
            assert out.status_code == 204, out.text
            return (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code

        codes = [await sign_out_then_use(p) for p in pairs[:10]]  # one after another
        codes += await asyncio.gather(*(sign_out_then_use(p) for p in pairs[10:]))  # at once
        assert Counter(codes) == {401: SESSIONS}

        pairs = [await _sign_in(client, "leaver@example.com") for _ in range(3)]
        out = await client.post("/auth/logout-all", headers=bearer(pairs[0]["access_token"]))
        assert out.status_code == 204, out.text
        for pair in pairs:
            me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
            assert me.status_code == 401


async def test_refresh_reuse_revokes_before_answering(app, http):
    await driver_account(http, "reuse@example.com")
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(10):
            pair = await _sign_in(client, "reuse@example.com")
            grant = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
            fresh = await client.post("/auth/token", data=grant)
            assert fresh.status_code == 200, fresh.text
            reused = await client.post("/auth/token", data=grant)  # a stolen copy
            assert reused.status_code == 400
            me = await client.get("/auth/me", headers=bearer(fresh.json()["access_token"]))
            assert me.status_code == 401, "the session of a reused refresh token must be over"


async def test_demotion_holds_the_moment_it_is_answered(app, http):
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        for n in range(10):
            op = await operator_account(client, "technician", f"tech{n}@ops.example.com")
            demoted = await client.patch(
                f"/operators/{op['id']}", json={"role": "analyst"}, headers=ADMIN
            )
            assert demoted.status_code == 200, demoted.text
            # the technician's token may no longer send station commands
            me = await client.get("/auth/me", headers=op["headers"])
            assert me.status_code == 401


async def test_parallel_guesses_over_two_processes_meet_the_limit(
    app, http, settings, database_url, temporal_client
):
    await driver_account(http, "target@example.com")
    second = create_app(settings, database_url, temporal=temporal_client)  # another process
    async with second.router.lifespan_context(second):
        async with serve(app) as one, serve(second) as two:
            clients = [httpx.AsyncClient(base_url=u, timeout=120) for u in (one, two)]
            wrong = {"grant_type": "password", "username": "target@example.com"}
            guesses = [
                clients[n % 2].post("/auth/token", data={**wrong, "password": f"guess-{n:04d}!"})
                for n in range(40)
            ]
            codes = Counter(r.status_code for r in await asyncio.gather(*guesses))
            right = await clients[0].post("/auth/token", data={**wrong, "password": PASSWORD})
            for client in clients:
                await client.aclose()
    assert set(codes) <= {400, 429}, codes
    assert codes[400] <= settings.login_max_failures, f"{codes[400]} guesses evaluated"
    assert codes[429] >= 40 - settings.login_max_failures
    assert right.status_code == 429  # locked, even for the right password
