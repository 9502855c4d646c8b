"""Access tokens are JWTs made by PyJWT: HS256 only, issuer, audience, expiry and a key id for
rotation, all checked; tokens of the earlier hand-made format are refused (#16)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from api import security
from tests.access.helpers import driver_account

KEY_A, KEY_B = b"a" * 32, b"b" * 32
OLD, NEW = "old-key-" + "0" * 32, "new-key-" + "1" * 32


def _old_format_token(secret: bytes, subject: str, sid: str, exp: int) -> str:
    """What the hand-made writer produced: no `kid`, no `aud`."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {
        "iss": "ampflow",
        "typ": "access",
        "sub": subject,
        "role": "driver",
        "sid": sid,
        "iat": exp - 60,
        "exp": exp,
    }
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = b64(hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def test_tokens_are_standard_jwts_with_key_id_audience_and_expiry():
    token = security.issue_access_token(KEY_A, "driver:5", "driver", "sid1", 60, now=1000)
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("HS256", security.key_id(KEY_A))
    claims = jwt.decode(
        token, KEY_A, algorithms=["HS256"], audience="ampflow-api", options={"verify_exp": False}
    )
    assert (claims["iss"], claims["aud"], claims["iat"], claims["exp"]) == (
        "ampflow",
        "ampflow-api",
        1000,
        1060,
    )
    assert security.read_access_token(KEY_A, token, now=1059).subject_id == 5
    with pytest.raises(security.InvalidToken, match="expired"):
        security.read_access_token(KEY_A, token, now=1060)


def test_what_is_refused():
    now = time.time()
    base = {
        "iss": "ampflow",
        "aud": "ampflow-api",
        "typ": "access",
        "sub": "driver:5",
        "role": "admin",
        "sid": "s",
        "iat": int(now),
        "exp": int(now) + 60,
    }
    kid = {"kid": security.key_id(KEY_A)}
    refused = {
        "old format": _old_format_token(KEY_A, "driver:5", "s", int(now) + 60),
        "alg none": jwt.encode(base, None, algorithm="none", headers=kid),
        "HS512": jwt.encode(base, KEY_A * 2, algorithm="HS512", headers=kid),
        "other audience": jwt.encode({**base, "aud": "x"}, KEY_A, headers=kid),
        "other issuer": jwt.encode({**base, "iss": "x"}, KEY_A, headers=kid),
        "no exp": jwt.encode({k: v for k, v in base.items() if k != "exp"}, KEY_A, headers=kid),
        "unknown kid": jwt.encode(base, KEY_A, headers={"kid": "nope"}),
        "refresh typ": jwt.encode({**base, "typ": "refresh"}, KEY_A, headers=kid),
        "other key": jwt.encode(base, KEY_B, headers=kid),
    }
    for name, token in refused.items():
        with pytest.raises(security.InvalidToken):
            security.read_access_token(KEY_A, token)
            pytest.fail(f"{name} was accepted")


def test_keys_rotate_by_key_id(settings):
    settings.auth_secret = OLD
    old = security.issue_access_token(security.access_keys(settings), "driver:1", "driver", "s", 60)
    settings.auth_secret = f"{NEW}, {OLD}"
    keys = security.access_keys(settings)
    assert security.read_access_token(keys, old).subject == "driver:1"  # still verified
    new = security.issue_access_token(keys, "driver:1", "driver", "s", 60)
    assert jwt.get_unverified_header(new)["kid"] == security.key_id(NEW.encode())
    settings.auth_secret = NEW  # the old key retired
    with pytest.raises(security.InvalidToken):
        security.read_access_token(security.access_keys(settings), old)
    assert security.read_access_token(security.access_keys(settings), new).subject == "driver:1"


async def test_an_old_format_token_is_refused_by_the_api(http, seeded):
    ann = await driver_account(http, "ann@example.com", "Ann")
    assert (await http.get("/me", headers=ann["headers"])).status_code == 200
    sid = jwt.decode(ann["access_token"], options={"verify_signature": False})["sid"]
    secret = security.auth_secret(http._transport.app.state.settings)
    old = _old_format_token(secret, f"driver:{ann['driver_id']}", sid, int(time.time()) + 60)
    answer = await http.get("/me", headers={"Authorization": f"Bearer {old}"})
    assert answer.status_code == 401
    refreshed = await http.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": ann["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    fresh = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await http.get("/me", headers=fresh)).status_code == 200
