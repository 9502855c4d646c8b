"""Secrets of the API: Argon2 passwords, HMAC-signed access tokens, random opaque tokens.

Access tokens are compact JWTs (HS256) made with the standard library: header, claims
(`sub`, `role`, `sid`, `iat`, `exp`, `iss`, `typ`) and an HMAC-SHA256 signature with the auth
secret. Refresh tokens, password-reset tokens and API keys are random (256 bits) and stored
only as SHA-256 hashes.

The auth secret is `AMPFLOW_AUTH_SECRET`; unset, it is derived from `AMPFLOW_ADMIN_API_KEY`
(HMAC with a fixed label), and without either a random one is created once and kept in
`AMPFLOW_DATA_DIR/auth_secret`. Changing it signs everybody out of their access tokens (the
refresh tokens stay valid).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ampflow.settings import Settings

ISSUER = "ampflow"
_HEADER = {"alg": "HS256", "typ": "JWT"}
_hasher = PasswordHasher()


# ---- passwords -----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An Argon2id hash (salted, with its parameters) of a person's password."""
    return _hasher.hash(password)


def verify_password(password: str, encoded: str | None) -> bool:
    """Check a password; without a hash a dummy one is checked, so timing reveals nothing."""
    try:
        return _hasher.verify(encoded or _dummy_hash(), password) and encoded is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _hasher.check_needs_rehash(encoded)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


# ---- opaque tokens -------------------------------------------------------------------------


def new_secret(prefix: str = "") -> str:
    """A random, URL-safe secret (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(value: str) -> str:
    """The stored form of a random secret (SHA-256 hex)."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


# ---- access tokens -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str  # "driver:12" | "operator:3"
    role: str
    session_id: str
    expires_at: int

    @property
    def kind(self) -> str:
        return self.subject.split(":", 1)[0]

    @property
    def subject_id(self) -> int:
        return int(self.subject.split(":", 1)[1])


class InvalidToken(Exception):
    """A bearer token that is malformed, forged, of another kind or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def issue_access_token(
    secret: bytes, subject: str, role: str, session_id: str, ttl_s: int, now: float | None = None
) -> str:
    """A signed access token for `subject` valid for `ttl_s` seconds."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "typ": "access",
        "sub": subject,
        "role": role,
        "sid": session_id,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    signing_input = (
        _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    return f"{signing_input}.{_sign(secret, signing_input)}"


def read_access_token(secret: bytes, token: str, now: float | None = None) -> AccessClaims:
    """The claims of a valid token; raises `InvalidToken` otherwise."""
    try:
        header_b64, claims_b64, signature = token.split(".")
        expected = _sign(secret, f"{header_b64}.{claims_b64}")
        if not same_secret(signature, expected):
            raise InvalidToken("bad signature")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(claims_b64))
        if header != _HEADER or claims.get("iss") != ISSUER or claims.get("typ") != "access":
            raise InvalidToken("not an Ampflow access token")
        if int(claims["exp"]) <= (time.time() if now is None else now):
            raise InvalidToken("expired")
        result = AccessClaims(
            subject=str(claims["sub"]),
            role=str(claims["role"]),
            session_id=str(claims["sid"]),
            expires_at=int(claims["exp"]),
        )
        result.subject_id  # noqa: B018  (must parse)
        return result
    except InvalidToken:
        raise
    except (ValueError, KeyError, TypeError, UnicodeError) as err:
        raise InvalidToken("malformed token") from err


# ---- the auth secret -----------------------------------------------------------------------


def auth_secret(settings: Settings) -> bytes:
    """The HMAC key of access tokens (see the module docstring for where it comes from)."""
    if settings.auth_secret:
        return settings.auth_secret.encode()
    if settings.admin_api_key:
        label = b"ampflow access-token secret v1"
        return hmac.new(settings.admin_api_key.encode(), label, hashlib.sha256).digest()
    return _kept_secret(str(settings.data_dir))


@cache
def _kept_secret(data_dir: str) -> bytes:
    path = Path(data_dir) / "auth_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()
