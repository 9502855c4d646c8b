"""Accounts cannot be pre-claimed: registering an address creates nothing until the code
mailed to it is presented, so an operator who creates a driver or issues a fleet card for an
address never hands it to whoever registered that address first. Without SMTP the mail lands
in the dev mailbox (`GET /dev/mailbox`, admin), so registration and resets still work."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.main import create_app
from tests.access.helpers import ADMIN, PASSWORD, mailed_code, sign_in

VICTIM = "victim@example.com"
ATTACKER_PASSWORD = "attacker chose this"


@pytest.fixture
async def plain(settings, database_url, temporal_client, db) -> AsyncIterator[httpx.AsyncClient]:
    """The app as `ampflow dev` runs it: no SMTP, no recording mailer."""
    app = create_app(settings, database_url, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_an_address_registered_first_is_not_the_registrants(plain):
    attack = {"email": VICTIM, "password": ATTACKER_PASSWORD, "name": "Not the victim"}
    assert (await plain.post("/auth/register", json=attack)).status_code == 202
    assert (await sign_in(plain, VICTIM, ATTACKER_PASSWORD)).status_code == 400  # no account

    # The operator gives the victim an account and a fleet card.
    created = await plain.post("/drivers", json={"name": "Victim", "email": VICTIM}, headers=ADMIN)
    assert created.status_code == 201, created.text
    driver_id = created.json()["id"]
    card = await plain.post(
        f"/drivers/{driver_id}/tokens", json={"token": "FLEET-1"}, headers=ADMIN
    )
    assert card.status_code == 201, card.text

    # Without the mailed code the attacker gets nothing, ...
    guess = await plain.post("/auth/register/confirm", json={"token": "rg_guessed"})
    assert guess.status_code == 400
    assert (await sign_in(plain, VICTIM, ATTACKER_PASSWORD)).status_code == 400

    # ... while the address's owner, who reads the mail, activates the account with a reset.
    reset = await plain.post("/auth/password-reset", json={"email": VICTIM})
    assert reset.status_code == 202
    code = await mailed_code(plain, VICTIM, prefix="pr_")
    confirmed = await plain.post(
        "/auth/password-reset/confirm", json={"token": code, "new_password": PASSWORD}
    )
    assert confirmed.status_code == 204, confirmed.text
    signed_in = await sign_in(plain, VICTIM)
    assert signed_in.status_code == 200
    me = await plain.get(
        "/me/tokens", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    )
    assert [t["token"] for t in me.json()] == ["FLEET-1"]
    assert (await sign_in(plain, VICTIM, ATTACKER_PASSWORD)).status_code == 400


async def test_the_owner_confirms_their_own_registration(plain):
    attack = {"email": VICTIM, "password": ATTACKER_PASSWORD, "name": "Squatter"}
    assert (await plain.post("/auth/register", json=attack)).status_code == 202
    mine = {"email": VICTIM, "password": PASSWORD, "name": "Owner"}
    assert (await plain.post("/auth/register", json=mine)).status_code == 202
    code = await mailed_code(plain, VICTIM)  # the newest mail: the owner's registration
    assert (await plain.post("/auth/register/confirm", json={"token": code})).status_code == 204
    assert (await sign_in(plain, VICTIM)).status_code == 200
    assert (await sign_in(plain, VICTIM, ATTACKER_PASSWORD)).status_code == 400
    again = await plain.post("/auth/register/confirm", json={"token": code})
    assert again.status_code == 400  # single use
    mails = await plain.get("/dev/mailbox", params={"to": VICTIM}, headers=ADMIN)
    assert mails.status_code == 200 and len(mails.json()) == 2
    assert (await plain.get("/dev/mailbox")).status_code == 401
