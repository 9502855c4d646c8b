"""Accounts: registration, sign-in, refresh rotation and reuse, sign-out, passwords, resets,
operator accounts and API keys — with uniform answers that reveal no account."""

from __future__ import annotations

from sqlmodel import select

from api import security
from store.access_tables import AuthSession, DriverLogin, PasswordReset, RefreshToken
from store.tables import Driver
from tests.access.helpers import (
    ADMIN,
    PASSWORD,
    api_key,
    bearer,
    driver_account,
    operator_account,
    register,
    sign_in,
)


async def test_register_and_sign_in(http, db):
    account = await driver_account(http, "Ada@Example.com", name="Ada")
    assert account["token_type"] == "bearer" and account["role"] == "driver"
    assert account["expires_in"] == 900
    me = await http.get("/me", headers=account["headers"])
    assert me.json()["email"] == "ada@example.com" and me.json()["name"] == "Ada"
    whoami = await http.get("/auth/me", headers=account["headers"])
    assert whoami.json()["actor"] == f"driver:{account['driver_id']}"
    with db.session() as session:  # the password is an Argon2 hash, the refresh token a digest
        login = session.get(DriverLogin, account["driver_id"])
        assert login.password_hash.startswith("$argon2id$")
        stored = session.exec(select(RefreshToken)).one()
        assert stored.token_hash == security.secret_hash(account["refresh_token"])
        assert account["refresh_token"] not in stored.token_hash


async def test_registration_answers_the_same_for_a_known_address(http, db):
    body = {"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}
    await register(http, "bob@example.com", "Bob")
    first = await http.post("/auth/register", json=body)
    again = await http.post("/auth/register", json={**body, "password": "another long secret"})
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    # The second registration changed nothing: the first password still signs in.
    assert (await sign_in(http, "bob@example.com")).status_code == 200
    assert (await sign_in(http, "bob@example.com", "another long secret")).status_code == 400
    # An operator-created driver (no password) cannot be claimed by registering alone.
    await http.post("/drivers", json={"name": "Eve", "email": "eve@example.com"}, headers=ADMIN)
    claim = await http.post("/auth/register", json={**body, "email": "eve@example.com"})
    assert claim.json() == first.json()
    assert (await sign_in(http, "eve@example.com")).status_code == 400
    weak = await http.post(
        "/auth/register", json={**body, "email": "w@example.com", "password": "x"}
    )
    assert weak.status_code == 422


async def test_failed_sign_in_is_uniform(http):
    await driver_account(http, "carol@example.com")
    wrong = await sign_in(http, "carol@example.com", "not the password")
    unknown = await sign_in(http, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_grant",
            "error_description": "invalid credentials",
        }
    )
    malformed = await http.post("/auth/token", data={"grant_type": "magic"})
    assert malformed.status_code == 422
    as_json = await http.post(
        "/auth/token",
        json={"grant_type": "password", "username": "carol@example.com", "password": PASSWORD},
    )
    assert as_json.status_code == 200


async def test_refresh_rotates_and_a_reused_token_revokes_the_session(http):
    account = await driver_account(http, "dan@example.com")
    refreshed = await http.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refresh_token"] != account["refresh_token"]
    assert (await http.get("/me", headers=bearer(pair["access_token"]))).status_code == 200
    # The old refresh token again: theft is assumed, the whole session ends.
    reused = await http.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account["refresh_token"]},
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert (await http.get("/me", headers=bearer(pair["access_token"]))).status_code == 401
    again = await http.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert again.status_code == 400
    audit = await http.get("/audit", params={"action": "auth.refresh_reused"}, headers=ADMIN)
    assert len(audit.json()) == 1


async def test_logout_revokes_at_once(http):
    account = await driver_account(http, "erin@example.com")
    other = await sign_in(http, "erin@example.com")  # a second device
    other_headers = bearer(other.json()["access_token"])
    logout = await http.post("/auth/logout", json={"refresh_token": account["refresh_token"]})
    assert logout.status_code == 204
    assert (await http.get("/me", headers=account["headers"])).status_code == 401
    assert (await http.get("/me", headers=other_headers)).status_code == 200
    refresh = await http.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account["refresh_token"]},
    )
    assert refresh.status_code == 400
    assert (await http.post("/auth/logout-all", headers=other_headers)).status_code == 204
    assert (await http.get("/me", headers=other_headers)).status_code == 401
    unknown = await http.post("/auth/logout", json={"refresh_token": "rt_nothing"})
    assert unknown.status_code == 204


async def test_bad_bearer_tokens_are_401(http, settings, db):
    account = await driver_account(http, "fay@example.com")
    token = account["access_token"]
    for bad in (token[:-2] + "xx", "abc", token + ".x", "\xe9"):
        value = f"Bearer {bad}".encode("latin-1")
        response = await http.get("/me", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # A token signed with another secret (e.g. after AMPFLOW_AUTH_SECRET changed).
    with db.session() as session:
        sid = session.exec(select(AuthSession)).first().id
    foreign = security.issue_access_token(
        b"x" * 32, f"driver:{account['driver_id']}", "driver", sid, 60
    )
    assert (await http.get("/me", headers=bearer(foreign))).status_code == 401
    # A genuine token whose claims name another driver than its session cannot be made:
    # the subject is checked against the session row.
    forged = security.issue_access_token(
        security.auth_secret(settings), "driver:999", "driver", sid, 60
    )
    assert (await http.get("/me", headers=bearer(forged))).status_code == 401


async def test_password_change_ends_other_sessions(http):
    account = await driver_account(http, "gus@example.com")
    other = bearer((await sign_in(http, "gus@example.com")).json()["access_token"])
    wrong = await http.post(
        "/auth/password",
        json={"current_password": "wrong password!", "new_password": "a new long secret"},
        headers=account["headers"],
    )
    assert wrong.status_code == 400
    changed = await http.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new long secret"},
        headers=account["headers"],
    )
    assert changed.status_code == 204
    assert (await http.get("/me", headers=account["headers"])).status_code == 200
    assert (await http.get("/me", headers=other)).status_code == 401
    assert (await sign_in(http, "gus@example.com")).status_code == 400
    assert (await sign_in(http, "gus@example.com", "a new long secret")).status_code == 200
    no_password = await http.post(
        "/auth/password",
        json={"current_password": "x", "new_password": "a new long secret"},
        headers=ADMIN,
    )
    assert no_password.status_code == 400  # the bootstrap key has no password


async def test_password_reset_answers_uniformly(http, app, db):
    await driver_account(http, "hal@example.com")
    app.state.mailer.sent.clear()
    known = await http.post("/auth/password-reset", json={"email": "hal@example.com"})
    unknown = await http.post("/auth/password-reset", json={"email": "nobody@example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert [to for to, _, _ in app.state.mailer.sent] == ["hal@example.com"]
    with db.session() as session:
        assert len(session.exec(select(PasswordReset)).all()) == 1


async def test_password_reset_by_email_activates_an_operator_created_driver(
    http, app, db, settings
):
    settings.smtp_host = "smtp.invalid"  # the app's mailer is the test recorder
    await http.post("/drivers", json={"name": "Ivy", "email": "ivy@example.com"}, headers=ADMIN)
    answer = await http.post("/auth/password-reset", json={"email": "IVY@example.com"})
    assert answer.status_code == 202
    unknown = await http.post("/auth/password-reset", json={"email": "nobody@example.com"})
    assert unknown.json() == answer.json()
    [(to, subject, body)] = [m for m in app.state.mailer.sent if m[0] == "ivy@example.com"]
    assert "Reset" in subject
    token = next(line for line in body.splitlines() if line.startswith("pr_"))
    with db.session() as session:
        assert session.exec(select(PasswordReset)).one().token_hash == security.secret_hash(token)
    bad = await http.post(
        "/auth/password-reset/confirm", json={"token": "pr_wrong", "new_password": "x" * 12}
    )
    assert bad.status_code == 400
    done = await http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "ivy's new secret"}
    )
    assert done.status_code == 204
    assert (await sign_in(http, "ivy@example.com", "ivy's new secret")).status_code == 200
    used = await http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "yet another one"}
    )
    assert used.status_code == 400


async def test_sign_in_lockout_per_account_does_not_reveal_the_account(http, settings):
    settings.login_max_failures = 3
    await driver_account(http, "jay@example.com")
    for email in ("jay@example.com", "ghost@example.com"):
        codes = [(await sign_in(http, email, "wrong password")).status_code for _ in range(3)]
        assert codes == [400, 400, 400]
        locked = await sign_in(http, email, PASSWORD)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert locked.json()["error"] == "too_many_attempts"
    # Another account from the same address still works (the per-IP limit is higher).
    await driver_account(http, "kim@example.com")


async def test_sign_in_lockout_per_ip(http, app, settings):
    settings.login_ip_max_failures = 4
    await driver_account(http, "lee@example.com")
    for n in range(4):
        assert (await sign_in(http, f"guess{n}@example.com", "wrong password")).status_code == 400
    assert (await sign_in(http, "lee@example.com")).status_code == 429
    import httpx

    elsewhere = httpx.ASGITransport(app=app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://api") as other:
        assert (await sign_in(other, "lee@example.com")).status_code == 200


async def test_operator_accounts_carry_their_role(http, db):
    tech = await operator_account(http, "technician")
    assert tech["role"] == "technician"
    claims = security.read_access_token(
        security.auth_secret(http._transport.app.state.settings), tech["access_token"]
    )
    assert claims.role == "technician" and claims.kind == "operator"
    # A driver password does not sign in as operator (and the other way round).
    assert (await sign_in(http, "technician@ops.example.com")).status_code == 400
    # Role change and deactivation sign the operator out.
    changed = await http.patch(f"/operators/{tech['id']}", json={"role": "analyst"}, headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["role"] == "analyst"
    assert (await http.get("/stations", headers=tech["headers"])).status_code == 401
    again = await sign_in(http, "technician@ops.example.com", path="/auth/operators/token")
    assert again.json()["role"] == "analyst"
    await http.patch(f"/operators/{tech['id']}", json={"active": False}, headers=ADMIN)
    refused = await sign_in(http, "technician@ops.example.com", path="/auth/operators/token")
    assert refused.status_code == 400
    duplicate = await http.post(
        "/operators",
        json={
            "email": "technician@ops.example.com",
            "name": "X",
            "role": "admin",
            "password": PASSWORD,
        },
        headers=ADMIN,
    )
    assert duplicate.status_code == 409


async def test_api_keys_are_hashed_and_revocable(http, db):
    key = await api_key(http, "analyst")
    assert (await http.get("/stations", headers=key)).status_code == 200
    assert (await http.post("/tariffs", json={"name": "X"}, headers=key)).status_code == 403
    listed = (await http.get("/api-keys", headers=ADMIN)).json()
    assert listed[0]["prefix"] == key["X-API-Key"][:10] and "key" not in listed[0]
    with db.session() as session:
        from store.access_tables import ApiKey

        row = session.exec(select(ApiKey)).one()
        assert row.key_hash == security.secret_hash(key["X-API-Key"])
    assert (await http.delete(f"/api-keys/{listed[0]['id']}", headers=ADMIN)).status_code == 204
    assert (await http.get("/stations", headers=key)).status_code == 401
    assert (await http.delete("/api-keys/999", headers=ADMIN)).status_code == 404
    actions = [e["action"] for e in (await http.get("/audit", headers=ADMIN)).json()]
    assert actions[:2] == ["api_key.revoke", "api_key.create"]


async def test_deleted_driver_is_anonymised_and_signed_out(http, db):
    account = await driver_account(http, "mia@example.com", name="Mia")
    wrong = await http.request(
        "DELETE", "/me", json={"password": "wrong password"}, headers=account["headers"]
    )
    assert wrong.status_code == 400
    deleted = await http.request(
        "DELETE", "/me", json={"password": PASSWORD}, headers=account["headers"]
    )
    assert deleted.status_code == 204
    assert (await http.get("/me", headers=account["headers"])).status_code == 401
    with db.session() as session:
        driver = session.get(Driver, account["driver_id"])
        assert "mia" not in driver.email.lower() and driver.name == "Deleted driver"
        assert session.get(DriverLogin, account["driver_id"]) is None
    assert (await sign_in(http, "mia@example.com")).status_code == 400
    # The address is free again.
    await driver_account(http, "mia@example.com")
