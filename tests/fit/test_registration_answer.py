"""Registration says exactly what happens next — the same answer for a new address and one that
already has an account — and following its steps literally gives a signed-in driver (#16)."""

from __future__ import annotations

from tests.access.helpers import PASSWORD, mailed_code


async def test_registration_tells_the_next_steps_and_they_work(http, settings):
    email = "zoe@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Zoë"}
    answer = await http.post("/auth/register", json=body)
    assert answer.status_code == 202, answer.text
    told = answer.json()
    minutes = settings.password_reset_ttl_s // 60
    assert told["detail"].startswith("No account exists yet.")
    assert f"within {minutes} minutes" in told["detail"]
    assert "/dev/mailbox" in told["detail"]  # no SMTP in the tests: where the message is
    assert told["confirm"] == f"POST {settings.api_base_url}/auth/register/confirm"
    assert told["code_valid_s"] == settings.password_reset_ttl_s
    assert "accepted; if the address can be used" not in answer.text

    # Step by step, as told.
    code = await mailed_code(http, email)
    method, url = told["confirm"].split(" ", 1)
    confirmed = await http.request(method, url, json={"token": code})
    assert confirmed.status_code == 204, confirmed.text
    signed_in = await http.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text

    # The address now has an account: the very same answer (nothing tells who is registered).
    again = await http.post("/auth/register", json=body)
    assert (again.status_code, again.json()) == (202, told)
    other = await http.post("/auth/register", json={**body, "email": "ann@example.com"})
    assert other.json() == told


async def test_a_password_reset_request_says_what_happens(http):
    answer = await http.post("/auth/password-reset", json={"email": "nobody@example.com"})
    assert answer.status_code == 202
    detail = answer.json()["detail"]
    assert "POST /auth/password-reset/confirm" in detail and "same for every address" in detail
