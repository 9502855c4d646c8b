"""Station identity at the WebSocket handshake (OCPP security profile 1: HTTP Basic auth).

Only registered stations with the right password get in; every refusal is logged with its
reason. A verified password is remembered (as a hash) so a reconnect storm does not re-run the
slow password hash for every station.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from urllib.parse import unquote

from domain.credentials import verify_password
from gateway.station_store import StationIdentity, StationStore

log = logging.getLogger(__name__)

PATH_PREFIX = "/ocpp/"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a handshake was refused, and the HTTP status to answer with."""

    status: int
    reason: str


def station_id_from_path(path: str) -> str | None:
    """`/ocpp/DEMO-1` -> `DEMO-1` (None if the path is not a station path)."""
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    station_id = unquote(path[len(PATH_PREFIX) :]).strip("/")
    if not station_id or "/" in station_id or len(station_id) > 48:
        return None
    return station_id


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Decode an `Authorization: Basic ...` header into (user, password)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class StationAuthenticator:
    """Checks a station's identity and password against the store."""

    def __init__(self, store: StationStore) -> None:
        self.store = store
        self._verified: dict[str, bytes] = {}  # station -> sha256(password hash + password)

    async def authenticate(
        self, station_id: str, authorization: str | None, secure: bool
    ) -> StationIdentity | Refusal:
        identity = await self.store.identity(station_id)
        if identity is None:
            return Refusal(404, "unknown station")
        if identity.security_profile >= 2 and not secure:
            return Refusal(401, f"station requires security profile {identity.security_profile}")
        if identity.password_hash is None:
            return Refusal(401, "station has no password set")
        credentials = basic_credentials(authorization)
        if credentials is None:
            return Refusal(401, "missing or malformed Basic credentials")
        user, password = credentials
        if user != station_id:
            return Refusal(401, "Basic user does not match the station id")
        if not self._password_ok(identity, password):
            return Refusal(401, "wrong password")
        return identity

    def _password_ok(self, identity: StationIdentity, password: str) -> bool:
        assert identity.password_hash is not None
        fingerprint = hashlib.sha256(f"{identity.password_hash}\0{password}".encode()).digest()
        remembered = self._verified.get(identity.station_id)
        if remembered is not None and hmac.compare_digest(remembered, fingerprint):
            return True
        if verify_password(password, identity.password_hash):
            self._verified[identity.station_id] = fingerprint
            return True
        return False
