"""Station identity at the WebSocket handshake (OCPP security profile 1: HTTP Basic auth).

Only registered stations with the right password get in; every refusal is logged with its
reason. A verified password is remembered (as a hash) so a reconnect storm does not re-run the
slow password hash for every station.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

from domain.credentials import hash_password, verify_password
from gateway.station_store import StationIdentity, StationStore

log = logging.getLogger(__name__)

PATH_PREFIX = "/ocpp/"
# The characters an OCPP identity may use (as the API's STATION_ID_PATTERN), 1 to 48 of them.
_STATION_ID = re.compile(r"[A-Za-z0-9._:\-*+@|]{1,48}")


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
    return station_id if _STATION_ID.fullmatch(station_id) else None


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
    """Checks a station's identity against the store, per its security profile.

    Profile 1: HTTP Basic over ws or wss. Profile 2: HTTP Basic, only over TLS. Profile 3: TLS with
    a client certificate whose subject CN is the station id (no password). A station registered
    at profile 2 or 3 is refused on a weaker connection (no downgrade).
    """

    def __init__(self, store: StationStore, *, admit_unknown: bool = False) -> None:
        self.store = store
        self.admit_unknown = admit_unknown
        self._verified: dict[str, bytes] = {}  # station -> sha256(password hash + password)

    async def authenticate(
        self,
        station_id: str,
        authorization: str | None,
        secure: bool,
        client_cert_cn: str | None = None,
    ) -> StationIdentity | Refusal:
        identity = await self.store.identity(station_id)
        if identity is None:
            return await self._unknown(station_id, authorization)
        if identity.registration_status == "Rejected":
            return Refusal(403, "station registration was rejected by an operator")
        if identity.security_profile >= 2 and not secure:
            return Refusal(401, f"station requires security profile {identity.security_profile}")
        if identity.security_profile >= 3:
            if client_cert_cn is None:
                return Refusal(401, "station requires a client certificate (profile 3)")
            if client_cert_cn != station_id:
                return Refusal(401, f"client certificate is for {client_cert_cn!r}")
            return identity
        if identity.password_hash is None:
            return Refusal(401, "station has no password set")
        credentials = basic_credentials(authorization)
        if credentials is None:
            return Refusal(401, "missing or malformed Basic credentials")
        user, password = credentials
        if user != station_id:
            return Refusal(401, "Basic user does not match the station id")
        if not await self._password_ok(identity, password):
            return Refusal(401, "wrong password")
        return identity

    async def _unknown(self, station_id: str, authorization: str | None):
        if not self.admit_unknown:
            return Refusal(404, "unknown station")
        credentials = basic_credentials(authorization)
        if credentials is None or credentials[0] != station_id or not credentials[1]:
            return Refusal(401, "unknown station without Basic credentials")
        await self.store.admit_pending(station_id, hash_password(credentials[1]))
        log.info("admitted unknown station %s as Pending (operator inbox)", station_id)
        identity = await self.store.identity(station_id)
        return identity or Refusal(404, "unknown station")

    async def _password_ok(self, identity: StationIdentity, password: str) -> bool:
        assert identity.password_hash is not None
        fingerprint = hashlib.sha256(f"{identity.password_hash}\0{password}".encode()).digest()
        remembered = self._verified.get(identity.station_id)
        if remembered is not None and hmac.compare_digest(remembered, fingerprint):
            return True
        # PBKDF2 releases the GIL: hash on a thread, the event loop keeps serving the others.
        if await asyncio.to_thread(verify_password, password, identity.password_hash):
            self._verified[identity.station_id] = fingerprint
            return True
        return False
