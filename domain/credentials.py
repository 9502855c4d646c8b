"""Hashing and checking secrets: station passwords, API keys, id tokens for display."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Station passwords are long random secrets checked at every (re)connection: 10k PBKDF2 rounds
# keep a 10,000-station reconnect storm within seconds of CPU while still slowing guessing.
_ITERATIONS = 10_000


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash in the form `pbkdf2_sha256$iterations$salt$hash`."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a hash made by `hash_password` (constant-time compare)."""
    try:
        scheme, iterations, salt, expected = encoded.split("$", 3)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


def token_fingerprint(id_token: str) -> str:
    """A stable, non-reversible short id for an id token (search attributes, logs)."""
    return hashlib.sha256(id_token.encode()).hexdigest()[:16]
