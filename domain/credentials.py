"""Hashing and checking secrets: station passwords, API keys, id tokens for display.

Station passwords (HTTP Basic, security profiles 1 and 2) are stored as a keyed fast hash,
`hmac_sha256$<key id>$<salt>$<hex>`: HMAC-SHA256 under a server-side pepper that never lives in
the database, so a leaked `stations` table alone reveals nothing (docs/security.md, "Station
passwords"). The key id names the pepper, so peppers can be rotated: hashes under an older one
still verify and are rehashed under the current one at the station's next login. Hashes of the
older format (`pbkdf2_sha256$…`, before the pepper) still verify the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

# Legacy station passwords: 10k PBKDF2 rounds (verified, and rehashed, never made for stations).
_ITERATIONS = 10_000

# OCPP 2.0.1 SecurityCtrlr.BasicAuthPassword (passwordString, 16-40) and the OCPP 1.6 security
# whitepaper's AuthorizationKey (at least 16): bounds of every new station password.
STATION_PASSWORD_MIN = 16
STATION_PASSWORD_MAX = 40
_PRINTABLE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
HMAC_SCHEME = "hmac_sha256"
PBKDF2_SCHEME = "pbkdf2_sha256"


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash in the form `pbkdf2_sha256$iterations$salt$hash`."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{PBKDF2_SCHEME}${iterations}${salt}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a hash made by `hash_password` (constant-time compare)."""
    try:
        scheme, iterations, salt, expected = encoded.split("$", 3)
    except ValueError:
        return False
    if scheme != PBKDF2_SCHEME:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


# ---- station passwords ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StationKeys:
    """The peppers of station password hashes: the current one and older ones (by key id)."""

    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def of(cls, current: bytes, *older: bytes) -> StationKeys:
        """Keys named by their own fingerprint (so two different peppers never share an id)."""
        keys = {key_id(key): key for key in (*older, current)}
        return cls(key_id(current), keys)


def key_id(key: bytes) -> str:
    """A short public name of a pepper (8 hex digits of an HMAC of a fixed label)."""
    return hmac.new(key, b"ampflow station key id", hashlib.sha256).hexdigest()[:8]


def generate_station_password() -> str:
    """A new station password: 32 hex digits (128 bits), valid as a 2.0.1 passwordString and
    as a 1.6 AuthorizationKey (hexadecimal, at most 40 digits)."""
    return secrets.token_hex(16)


def station_password_problem(password: str) -> str | None:
    """Why `password` cannot be a station's new password (None: it can)."""
    if not STATION_PASSWORD_MIN <= len(password) <= STATION_PASSWORD_MAX:
        return f"a station password has {STATION_PASSWORD_MIN} to {STATION_PASSWORD_MAX} characters"
    if not _PRINTABLE.fullmatch(password):
        return "a station password is printable ASCII without spaces"
    return None


def hash_station_password(password: str, keys: StationKeys) -> str:
    """`hmac_sha256$<key id>$<salt>$<hex>` under the current pepper (the salt keeps stations
    with the same password apart)."""
    salt = secrets.token_hex(8)
    digest = _hmac(keys.keys[keys.current_id], salt, password)
    return f"{HMAC_SCHEME}${keys.current_id}${salt}${digest}"


def verify_station_password(password: str, encoded: str | None, keys: StationKeys) -> bool:
    """Check a station password against either stored format (constant-time compare)."""
    if not encoded:
        return False
    if not encoded.startswith(HMAC_SCHEME + "$"):
        return verify_password(password, encoded)
    try:
        _, kid, salt, expected = encoded.split("$", 3)
    except ValueError:
        return False
    key = keys.keys.get(kid)
    return key is not None and hmac.compare_digest(_hmac(key, salt, password), expected)


def is_slow_hash(encoded: str | None) -> bool:
    """True for the legacy PBKDF2 format (verify it off the event loop)."""
    return bool(encoded) and not encoded.startswith(HMAC_SCHEME + "$")  # type: ignore[union-attr]


def needs_rehash(encoded: str | None, keys: StationKeys) -> bool:
    """True unless `encoded` is a keyed hash under the current pepper."""
    return not (encoded or "").startswith(f"{HMAC_SCHEME}${keys.current_id}$")


def _hmac(key: bytes, salt: str, password: str) -> str:
    message = salt.encode() + b"\0" + password.encode("utf-8", "surrogateescape")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def secret_config_problem(action: str, payload: dict) -> str | None:
    """Why an outgoing ChangeConfiguration (1.6) or SetVariables (2.0.1) that sets a station
    password must not be sent (None: fine). The new password obeys the same rule."""
    if action == "ChangeConfiguration":
        if _bare(payload.get("key")) == "authorizationkey":
            return station_password_problem(str(payload.get("value", "")))
        return None
    if action == "SetVariables":
        for item in payload.get("setVariableData", []) or []:
            if _bare(((item or {}).get("variable") or {}).get("name")) == "basicauthpassword":
                problem = station_password_problem(str(item.get("attributeValue", "")))
                if problem:
                    return problem
    return None


def _bare(name: object) -> str:
    """`SecurityCtrlr.BasicAuthPassword` -> `basicauthpassword`."""
    return str(name or "").rsplit(".", 1)[-1].lower()


def token_fingerprint(id_token: str) -> str:
    """A stable, non-reversible short id for an id token (search attributes, logs)."""
    return hashlib.sha256(id_token.encode()).hexdigest()[:16]
