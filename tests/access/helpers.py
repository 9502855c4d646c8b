"""Account helpers for the access-control tests."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_KEY

PASSWORD = "correct horse battery"
ADMIN = {"X-API-Key": ADMIN_KEY}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, path: str = "/auth/token"
) -> httpx.Response:
    return await http.post(
        path, data={"grant_type": "password", "username": email, "password": password}
    )


async def mailed_code(http: httpx.AsyncClient, email: str, prefix: str = "rg_") -> str:
    """The newest code mailed to `email`: from the app's recording mailer in tests, else from
    the dev mailbox (no SMTP)."""
    app = http._transport.app  # type: ignore[attr-defined]
    sent = getattr(app.state, "mailer", None)
    if hasattr(sent, "sent"):
        bodies = [body for to, _, body in sent.sent if to == email.lower()]
    else:
        mails = await http.get("/dev/mailbox", params={"to": email}, headers=ADMIN)
        bodies = [mail["body"] for mail in mails.json()][::-1]
    codes = [
        line.strip() for body in bodies for line in body.splitlines() if line.startswith(prefix)
    ]
    assert codes, f"no {prefix} code mailed to {email}"
    return codes[-1]


async def register(
    http: httpx.AsyncClient, email: str, name: str = "Driver", password: str = PASSWORD
) -> None:
    """Register and confirm with the mailed code."""
    registered = await http.post(
        "/auth/register", json={"email": email, "password": password, "name": name}
    )
    assert registered.status_code == 202, registered.text
    code = await mailed_code(http, email)
    confirmed = await http.post("/auth/register/confirm", json={"token": code})
    assert confirmed.status_code == 204, confirmed.text


async def driver_account(
    http: httpx.AsyncClient, email: str, name: str = "Driver", password: str = PASSWORD
) -> dict:
    """Register, confirm and sign in; returns the token pair plus `driver_id` and `headers`."""
    await register(http, email, name, password)
    response = await sign_in(http, email, password)
    assert response.status_code == 200, response.text
    pair = response.json()
    me = await http.get("/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200, me.text
    return {**pair, "driver_id": me.json()["id"], "headers": bearer(pair["access_token"])}


async def operator_account(http: httpx.AsyncClient, role: str, email: str | None = None) -> dict:
    """Create an operator with `role` (as admin) and sign them in."""
    email = email or f"{role}@ops.example.com"
    created = await http.post(
        "/operators",
        json={"email": email, "name": role.title(), "role": role, "password": PASSWORD},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    response = await sign_in(http, email, path="/auth/operators/token")
    assert response.status_code == 200, response.text
    pair = response.json()
    return {**pair, "id": created.json()["id"], "headers": bearer(pair["access_token"])}


async def api_key(http: httpx.AsyncClient, role: str) -> dict[str, str]:
    created = await http.post(
        "/api-keys", json={"name": f"{role} key", "role": role}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}
