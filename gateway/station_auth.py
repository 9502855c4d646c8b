"""Station identity at the WebSocket handshake (OCPP security profiles 1-3).

Only registered stations with the right password get in; every refusal is logged with its
reason. Passwords are checked against a keyed fast hash (HMAC-SHA256 with a server-side pepper,
`domain.credentials`); hashes of the older PBKDF2 format still verify (off the event loop) and
are rehashed under the current pepper at that login. Failed handshakes are throttled per station
id and per client address (`gateway.handshake_guard`): a locked key is answered 429 with
`Retry-After` and raises a `handshake_failures` alert. Unknown stations (when admitted at all)
need a valid station password and are admitted at a bounded rate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import re
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from domain import alerts
from domain.credentials import (
    StationKeys,
    hash_station_password,
    is_slow_hash,
    needs_rehash,
    station_password_problem,
    verify_station_password,
)
from gateway.connection import CommandError, StationConnection
from gateway.handshake_guard import AdmissionLimiter, HandshakeGuard, Lock
from gateway.station_store import StationIdentity, StationStore
from runtime.settings import Settings
from runtime.station_keys import station_keys
from store.monitoring_tables import RAISE_ALERT

if TYPE_CHECKING:
    from gateway.services import GatewayServices

log = logging.getLogger(__name__)

PATH_PREFIX = "/ocpp/"
# The characters an OCPP identity may use (as the API's STATION_ID_PATTERN), 1 to 48 of them.
_STATION_ID = re.compile(r"[A-Za-z0-9._:\-*+@|]{1,48}")
_COUNTED = (401, 404)  # refusals that count as failed handshakes
_RECENT_OK = 100_000  # station ids remembered as recently authenticated (bounded)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a handshake was refused, the HTTP status, and when to retry (429)."""

    status: int
    reason: str
    retry_after_s: int | None = None


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

    def __init__(
        self,
        store: StationStore,
        *,
        admit_unknown: bool = False,
        keys: StationKeys | None = None,
        guard: HandshakeGuard | None = None,
        admissions: AdmissionLimiter | None = None,
    ) -> None:
        self.store = store
        self.admit_unknown = admit_unknown
        self.keys = keys or StationKeys.of(b"ampflow-unconfigured")
        self.guard = guard or HandshakeGuard()
        self.admissions = admissions or AdmissionLimiter()
        self._recent_ok: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def from_settings(cls, store: StationStore, settings: Settings) -> StationAuthenticator:
        guard = HandshakeGuard(
            station_max_failures=settings.gateway_handshake_max_failures,
            address_max_failures=settings.gateway_handshake_ip_max_failures,
            window_s=settings.gateway_handshake_window_s,
            lockout_s=settings.gateway_handshake_lockout_s,
            lockout_max_s=settings.gateway_handshake_lockout_max_s,
        )
        admissions = AdmissionLimiter(
            per_address=settings.gateway_admit_unknown_ip_max,
            total=settings.gateway_admit_unknown_max,
            window_s=settings.gateway_admit_unknown_window_s,
        )
        return cls(
            store,
            admit_unknown=settings.gateway_admit_unknown_stations,
            keys=station_keys(settings),
            guard=guard,
            admissions=admissions,
        )

    async def authenticate(
        self,
        station_id: str,
        authorization: str | None,
        secure: bool,
        client_cert_cn: str | None = None,
        address: str = "?",
    ) -> StationIdentity | Refusal:
        """The station's identity, or why it is refused (failures counted, locks enforced)."""
        guard = self.guard
        lock = guard.locked(guard.station_key(station_id))
        if lock is None and station_id not in self._recent_ok:
            # A locked address still lets in the stations that recently proved their password
            # here (their own station keys still limit guesses): a fleet behind it keeps going.
            lock = guard.locked(guard.address_key(address))
        if lock is not None:
            return Refusal(
                429, f"too many failed handshakes ({lock.key})", max(1, math.ceil(lock.wait_s))
            )
        result = await self._check(station_id, authorization, secure, client_cert_cn, address)
        if isinstance(result, Refusal):
            if result.status in _COUNTED:
                for new_lock in guard.failed(station_id, address):
                    self._alert(new_lock)
            return result
        guard.succeeded(station_id)
        self._recent_ok[station_id] = None
        self._recent_ok.move_to_end(station_id)
        if len(self._recent_ok) > _RECENT_OK:
            self._recent_ok.popitem(last=False)
        return result

    async def close(self) -> None:
        """Wait for alerts being raised (call before the store closes)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _check(
        self,
        station_id: str,
        authorization: str | None,
        secure: bool,
        client_cert_cn: str | None,
        address: str,
    ) -> StationIdentity | Refusal:
        identity = await self.store.identity(station_id)
        if identity is None:
            return await self._unknown(station_id, authorization, address)
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
            if not await self._rotated_password_ok(station_id, password):
                return Refusal(401, "wrong password")
        return identity

    async def _unknown(self, station_id: str, authorization: str | None, address: str):
        if not self.admit_unknown:
            return Refusal(404, "unknown station")
        credentials = basic_credentials(authorization)
        if credentials is None or credentials[0] != station_id or not credentials[1]:
            return Refusal(401, "unknown station without Basic credentials")
        problem = station_password_problem(credentials[1])
        if problem:
            return Refusal(401, f"unknown station: {problem}")
        refusal = self.admissions.refusal(address) or await self._inbox_full()
        if refusal:
            return Refusal(429, refusal, int(self.admissions.window_s))
        encoded = hash_station_password(credentials[1], self.keys)
        await self.store.admit_pending(station_id, encoded)
        identity = await self.store.identity(station_id)
        if identity is None:
            return Refusal(404, "unknown station")
        if identity.password_hash != encoded:  # admitted meanwhile by another first contact
            return await self._check(station_id, authorization, False, None, address)
        self.admissions.admitted(address)
        log.info("admitted unknown station %s as Pending (operator inbox)", station_id)
        return identity

    async def _inbox_full(self) -> str | None:
        """The total bound, across gateways: Pending stations created within the window."""
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM stations WHERE registration_status = 'Pending' "
                "AND created_at > now() - make_interval(secs => %s)",
                (self.admissions.window_s,),
            )
            row = await cur.fetchone()
        if row is not None and row[0] >= self.admissions.total:
            return "too many unknown stations waiting for approval"
        return None

    async def _password_ok(self, identity: StationIdentity, password: str) -> bool:
        encoded = identity.password_hash
        assert encoded is not None
        if is_slow_hash(encoded):
            # PBKDF2 (older hashes) releases the GIL: hash on a thread, the loop keeps serving.
            ok = await asyncio.to_thread(verify_station_password, password, encoded, self.keys)
        else:
            ok = verify_station_password(password, encoded, self.keys)
        if ok and needs_rehash(encoded, self.keys):
            await self._rehash(identity.station_id, encoded, password)
        return ok

    async def _rotated_password_ok(self, station_id: str, password: str) -> bool:
        """A password sent to the station whose answer we never saw (lost, timed out, or
        RebootRequired): the station proves it took it by logging in with it, and from then on
        only this one is valid. Read only when the stored password did not match."""
        async with self.store.fast.connection() as conn:
            cur = await conn.execute(
                "SELECT pending_password_hash FROM stations WHERE id = %s", (station_id,)
            )
            row = await cur.fetchone()
        pending = row[0] if row else None
        if not pending or not verify_station_password(password, pending, self.keys):
            return False
        await promote_password(self.store, station_id, pending)
        log.info("%s logged in with its new password; the previous one is refused", station_id)
        return True

    async def _rehash(self, station_id: str, old: str, password: str) -> None:
        """Store the password under the current pepper (unless it changed meanwhile)."""
        async with self.store.pool.connection() as conn:
            await conn.execute(
                "UPDATE stations SET password_hash = %s WHERE id = %s AND password_hash = %s",
                (hash_station_password(password, self.keys), station_id, old),
            )

    def _alert(self, lock: Lock) -> None:
        log.warning(
            "handshake failures: %s locked for %.0f s after %d failures",
            lock.key,
            lock.wait_s,
            lock.failures,
        )
        task = asyncio.create_task(
            self._raise(alerts.handshake_failures(lock.key, lock.failures, lock.wait_s))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _raise(self, alert: alerts.AlertRaise) -> None:
        try:
            async with self.store.pool.connection() as conn:
                await conn.execute(RAISE_ALERT, alert.sql_params())
        except Exception:
            log.exception("could not raise %s", alert.key)


# ---- commands that change what admits the station ------------------------------------------
#
# The operator rotates the Basic-auth password (2.0.1 A01: SetVariables
# SecurityCtrlr.BasicAuthPassword; 1.6 security whitepaper: ChangeConfiguration AuthorizationKey)
# and raises the security profile (SecurityCtrlr.SecurityProfile; 1.6 SecurityProfile). The
# stored credentials follow the station's answer, never the request: a new password is kept as
# `pending_password_hash` before it is sent, becomes the station's password when the station
# answers Accepted (the old one is refused from then on) and is dropped when it refuses. When the
# answer is not known (lost, timed out) or says RebootRequired, both stay valid until the station
# logs in with the new one (`StationAuthenticator._rotated_password_ok`), so a lost answer never
# locks a station out. A raised profile is recorded once accepted; lower ones are never sent.

# 1.6 §4.2 / 2.0.1 B02: while Pending, the CSMS may configure and query the station, not start or
# stop transactions on it.
NOT_WHILE_PENDING = frozenset(
    {
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "RequestStartTransaction",
        "RequestStopTransaction",
    }
)
_TAKEN_LATER = "RebootRequired"  # accepted, in effect after the station's next reboot


@dataclass(frozen=True, slots=True)
class CredentialChange:
    """What an outgoing command changes about the station's admission."""

    password: str | None = None
    profile: int | None = None
    network_slot: int | None = None  # SetNetworkProfile: the slot its `profile` is for
    priority: tuple[int, ...] | None = None  # NetworkConfigurationPriority: slots, in order


def credential_change(action: str, payload: dict) -> CredentialChange | None:
    """The new password and/or security profile an outgoing command sets (None: neither)."""
    if action == "SetNetworkProfile":  # 2.0.1 A05: a connection profile in a slot
        data = payload.get("connectionData") or {}
        return CredentialChange(
            profile=_profile(data.get("securityProfile")),
            network_slot=int(payload.get("configurationSlot", 0)),
        )
    if action == "ChangeConfiguration":
        key = _bare(payload.get("key"))
        if key == "authorizationkey":
            return CredentialChange(password=str(payload.get("value", "")))
        if key == "securityprofile":
            return CredentialChange(profile=_profile(payload.get("value")))
        return None
    if action != "SetVariables":
        return None
    password: str | None = None
    profile: int | None = None
    priority: tuple[int, ...] | None = None
    for item in payload.get("setVariableData") or []:
        item = item or {}
        name = _bare((item.get("variable") or {}).get("name"))
        component = str((item.get("component") or {}).get("name") or "").lower()
        if name == "basicauthpassword":
            password = str(item.get("attributeValue", ""))
        elif name == "securityprofile" and component == "securityctrlr":
            profile = _profile(item.get("attributeValue"))
        elif name == "networkconfigurationpriority" and component == "ocppcommctrlr":
            priority = _slots(item.get("attributeValue"))
    if password is None and profile is None and priority is None:
        return None
    return CredentialChange(password=password, profile=profile, priority=priority)


def credential_answers(action: str, response: dict) -> tuple[str | None, str | None]:
    """The station's status for the new password and for the new profile."""
    if action == "ChangeConfiguration":  # one key per message: the status is that key's
        status = response.get("status")
        return status, status
    if action == "SetNetworkProfile":
        return None, response.get("status")
    password = profile = None
    for result in response.get("setVariableResult") or []:
        name = _bare(((result or {}).get("variable") or {}).get("name"))
        if name == "basicauthpassword":
            password = result.get("attributeStatus")
        elif name in ("securityprofile", "networkconfigurationpriority"):
            profile = result.get("attributeStatus")
    return password, profile


async def send_command(
    conn: StationConnection, action: str, payload: dict, timeout_s: float
) -> dict:
    """`conn.call`, keeping the stored credentials in step with what the station accepted, and
    refusing what a Pending station must not be sent. Raises `ValueError` for a command that
    must not be sent (nothing was sent), `CommandError` as `conn.call`."""
    if conn.registration_status != "Accepted" and action in NOT_WHILE_PENDING:
        raise CommandError(
            "not_supported",
            f"{conn.station_id} is {conn.registration_status}: {action} is not sent "
            "until the station is Accepted",
        )
    change = credential_change(action, payload)
    if change is None:
        return await conn.call(action, payload, timeout_s=timeout_s)
    station_id, store, settings = conn.station_id, conn.services.store, conn.services.settings
    if change.profile is not None:
        await _check_profile(store, settings, station_id, change.profile)
    pending = None
    if change.password is not None:
        pending = hash_station_password(change.password, station_keys(settings))
        async with store.fast.connection() as db:
            await db.execute(
                "UPDATE stations SET pending_password_hash = %s WHERE id = %s",
                (pending, station_id),
            )
    try:
        response = await conn.call(action, payload, timeout_s=timeout_s)
    except CommandError as err:
        # A CALLERROR is a refusal; an invalid answer, a timeout or a lost socket say nothing
        # about whether the station took the password, so it stays valid until it is used.
        if pending is not None and err.kind == "rejected" and str(err).startswith(f"{action}: "):
            await _drop_pending(store, station_id, pending)
        raise
    password_status, profile_status = credential_answers(action, response)
    try:
        if pending is not None:
            if password_status == "Accepted":
                await promote_password(store, station_id, pending)
                log.info("%s accepted its new password; the previous one is refused", station_id)
            elif password_status != _TAKEN_LATER:
                await _drop_pending(store, station_id, pending)
        taken = profile_status in ("Accepted", _TAKEN_LATER)
        if change.network_slot is not None:
            if profile_status == "Accepted":  # the slot holds it; used once it has priority
                _network_slots(conn)[change.network_slot] = change.profile or 1
        elif change.profile is not None and taken:
            await _record_profile(store, station_id, change.profile)
        if change.priority is not None and taken:
            # The station may connect through any slot listed: the lowest profile among them,
            # and only when every one of them is a slot this CSMS set.
            slots = _network_slots(conn)
            if change.priority and all(slot in slots for slot in change.priority):
                await _record_profile(store, station_id, min(slots[s] for s in change.priority))
    except Exception:  # the station did answer: report it; a pending password still works
        log.exception("%s: could not store the outcome of %s", station_id, action)
    return response


async def _record_profile(store: StationStore, station_id: str, profile: int) -> None:
    """The station's recorded security profile, never lowered."""
    async with store.fast.connection() as db:
        await db.execute(
            "UPDATE stations SET security_profile = %s WHERE id = %s AND security_profile < %s",
            (profile, station_id, profile),
        )
    log.info("%s accepted security profile %d", station_id, profile)


# 2.0.1 A05 (OCTT TC_A_19): SetNetworkProfile puts a profile in a slot, then SetVariables
# OCPPCommCtrlr.NetworkConfigurationPriority makes the station use it (after a reset). The slots
# this gateway set, per station, are kept while the gateway runs (a restart in between forgets
# them: nothing is recorded then, never a wrong profile).
_SLOTS: weakref.WeakKeyDictionary[GatewayServices, dict[str, dict[int, int]]] = (
    weakref.WeakKeyDictionary()
)


def _network_slots(conn: StationConnection) -> dict[int, int]:
    """configurationSlot -> security profile, as this station accepted them."""
    return _SLOTS.setdefault(conn.services, {}).setdefault(conn.station_id, {})


def _slots(value: object) -> tuple[int, ...]:
    """`"1,0"` -> (1, 0); anything else is no priority this CSMS can reason about."""
    try:
        return tuple(int(part) for part in str(value).split(",") if part.strip())
    except ValueError:
        return ()


async def promote_password(store: StationStore, station_id: str, pending: str) -> None:
    """The pending password becomes the station's only one (unless replaced meanwhile)."""
    async with store.fast.connection() as db:
        await db.execute(
            "UPDATE stations SET password_hash = pending_password_hash, "
            "pending_password_hash = NULL WHERE id = %s AND pending_password_hash = %s",
            (station_id, pending),
        )


async def _drop_pending(store: StationStore, station_id: str, pending: str) -> None:
    async with store.fast.connection() as db:
        await db.execute(
            "UPDATE stations SET pending_password_hash = NULL "
            "WHERE id = %s AND pending_password_hash = %s",
            (station_id, pending),
        )


async def _check_profile(store: StationStore, settings: Settings, station_id: str, profile: int):
    """A profile is only ever raised, and only to one this gateway can admit."""
    async with store.fast.connection() as db:
        cur = await db.execute("SELECT security_profile FROM stations WHERE id = %s", (station_id,))
        row = await cur.fetchone()
    current = row[0] if row else 1
    if profile < current:
        raise ValueError(
            f"security profile {profile} is below the station's profile {current} (no downgrade)"
        )
    if profile >= 2 and settings.gateway_tls_cert_file is None:
        raise ValueError(
            f"security profile {profile} needs the gateway's TLS listener "
            "(AMPFLOW_GATEWAY_TLS_CERT_FILE): the station could not connect again"
        )
    if profile == 3 and settings.gateway_tls_client_ca_file is None:
        raise ValueError(
            "security profile 3 needs AMPFLOW_GATEWAY_TLS_CLIENT_CA_FILE (the CA of station "
            "certificates): the station could not connect again"
        )


def _profile(value: object) -> int:
    try:
        profile = int(str(value).strip())
    except ValueError:
        profile = 0
    if profile not in (1, 2, 3):
        raise ValueError(f"security profile must be 1, 2 or 3, not {value!r}")
    return profile


def _bare(name: object) -> str:
    """`SecurityCtrlr.BasicAuthPassword` -> `basicauthpassword`."""
    return str(name or "").rsplit(".", 1)[-1].lower()
