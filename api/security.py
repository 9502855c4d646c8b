"""Secrets of the API: Argon2 passwords, signed access tokens (JWT), random opaque tokens.

Access tokens are JWTs made and checked with PyJWT: HS256 only (the accepted algorithm list is
explicit, so `none` or RS/HS confusion cannot pass), the signing key's id in the header `kid`,
claims `iss` (`ampflow`), `aud` (`ampflow-api`), `sub`, `role`, `sid`, `typ`, `iat` and `exp`,
all required. Refresh tokens, password-reset tokens and API keys are random (256 bits) and
stored only as SHA-256 hashes.

The keys are `AMPFLOW_AUTH_SECRET`, comma-separated, newest first: the first signs, every one
verifies (its `kid` is a fingerprint of the key), so a key is rotated by putting the new one in
front and dropping the old one once the access tokens it signed have expired
(`AMPFLOW_ACCESS_TOKEN_TTL_S`). Unset, the key is derived from `AMPFLOW_ADMIN_API_KEY` (HMAC with
a fixed label), and without either a random one is created once and kept in
`AMPFLOW_DATA_DIR/auth_secret`. Access tokens of the earlier hand-made format (no `kid`, no
`aud`) are refused (401): clients get a new one with their refresh token, which stays valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from runtime.settings import Settings

ISSUER = "ampflow"
AUDIENCE = "ampflow-api"
ALGORITHM = "HS256"
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


def key_id(secret: bytes) -> str:
    """The `kid` of a signing key: a fingerprint, so no secret is ever named in a token."""
    return hmac.new(secret, b"ampflow access-token key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AccessKeys:
    """The key that signs new access tokens and every key that still verifies them, by `kid`."""

    signing: bytes
    verifying: dict[str, bytes]

    @classmethod
    def of(cls, *secrets_: bytes) -> AccessKeys:
        """Newest first: the first signs, every one verifies."""
        return cls(signing=secrets_[0], verifying={key_id(s): s for s in secrets_})


def _keys(keys: AccessKeys | bytes) -> AccessKeys:
    return keys if isinstance(keys, AccessKeys) else AccessKeys.of(keys)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def issue_access_token(
    keys: AccessKeys | bytes,
    subject: str,
    role: str,
    session_id: str,
    ttl_s: int,
    now: float | None = None,
) -> str:
    """A signed access token (JWT, HS256, with the signing key's `kid`) for `subject`, valid
    for `ttl_s` seconds."""
    keyring = _keys(keys)
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": "access",
        "sub": subject,
        "role": role,
        "sid": session_id,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    return jwt.encode(
        claims, keyring.signing, algorithm=ALGORITHM, headers={"kid": key_id(keyring.signing)}
    )


def read_access_token(
    keys: AccessKeys | bytes, token: str, now: float | None = None
) -> AccessClaims:
    """The claims of a valid token; raises `InvalidToken` otherwise. Only HS256, our issuer and
    audience, a known `kid`, and an unexpired `exp` pass (`now`: a fixed clock, for tests)."""
    keyring = _keys(keys)
    try:
        header = jwt.get_unverified_header(token)
        secret = keyring.verifying.get(header.get("kid", ""))
        if secret is None:
            raise InvalidToken("unknown signing key (signed before a key change?)")
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=0 if now is None else time.time() - now,
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
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
    except jwt.ExpiredSignatureError as err:
        raise InvalidToken("expired") from err
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError, UnicodeError) as err:
        raise InvalidToken("malformed or forged token") from err


# ---- the auth secret -----------------------------------------------------------------------


def access_keys(settings: Settings) -> AccessKeys:
    """The signing and verifying keys of access tokens (`AMPFLOW_AUTH_SECRET`, newest first)."""
    if settings.auth_secret:
        given = [part.strip() for part in settings.auth_secret.split(",") if part.strip()]
        if given:
            return AccessKeys.of(*(part.encode() for part in given))
    return AccessKeys.of(auth_secret(settings))


def auth_secret(settings: Settings) -> bytes:
    """The key that signs access tokens (see the module docstring for where it comes from)."""
    if settings.auth_secret:
        return settings.auth_secret.split(",", 1)[0].strip().encode()
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
