"""The gateway's narrow view of the store: station identity, boot and status facts, numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import orjson
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from gateway.group_commit import GroupCommit
from store.db import libpq_url

_S = TypeVar("_S", str, None)


@dataclass(frozen=True, slots=True)
class StationIdentity:
    """What the handshake needs to know about a station."""

    station_id: str
    password_hash: str | None
    security_profile: int
    ocpp_versions: tuple[str, ...]
    registration_status: str


# A connect storm's route and boot writes share statements (`gateway.group_commit`); a station
# twice in one batch: its last write wins.
_CONNECT = (
    "WITH r AS (SELECT DISTINCT ON (station) station, at, queue, version FROM "
    "jsonb_to_recordset(%s::jsonb) AS r(ord int, station varchar, at timestamptz, "
    "queue varchar, version varchar) ORDER BY station, ord DESC), "
    "old AS (SELECT s.id, s.connected, s.gateway_queue, s.connected_version FROM stations s "
    "JOIN r ON s.id = r.station FOR UPDATE OF s) "
    "UPDATE stations SET connected = true, last_seen_at = r.at, gateway_queue = r.queue, "
    "connected_version = r.version FROM r JOIN old ON old.id = r.station "
    "WHERE stations.id = r.station "
    "RETURNING stations.id, old.connected, old.gateway_queue, old.connected_version"
)
# The boot facts, and an operator's "Pending at the next boot" mark used up; returns the
# registration and whether the station holds a local authorization list.
_BOOT = (
    "WITH r AS (SELECT DISTINCT ON (station) * FROM jsonb_to_recordset(%s::jsonb) AS r(ord int, "
    "station varchar, vendor varchar, model varchar, serial_number varchar, "
    "firmware_version varchar, iccid varchar, at timestamptz) ORDER BY station, ord DESC) "
    "UPDATE stations SET vendor = r.vendor, model = r.model, serial_number = r.serial_number, "
    "firmware_version = r.firmware_version, iccid = r.iccid, last_boot_at = r.at, "
    "last_seen_at = r.at, registration_status = CASE WHEN pending_next_boot THEN 'Pending' "
    "ELSE registration_status END, pending_next_boot = false FROM r "
    "WHERE stations.id = r.station RETURNING stations.id, registration_status, "
    "coalesce((SELECT enabled AND version > 0 FROM local_lists "
    "WHERE station_id = stations.id), false)"
)
_BOOT_FIELDS = ("vendor", "model", "serial_number", "firmware_version", "iccid")
_ANSWER_WAIT_S = 10.0  # longest wait for a pooled connection on a charger's answer path
_RECORDING_CONNECTIONS = 4  # the recorder's sample writers (3) and its message log writer


@dataclass(frozen=True, slots=True)
class BootRecord:
    """What a boot's write returns: the registration (None: no such station) and whether the
    station holds a local authorization list (enabled, with a version)."""

    registration: str | None
    holds_local_list: bool


class StationStore:
    """Async access to the few tables the gateway reads and writes."""

    def __init__(self, database_url: str, *, max_size: int = 8) -> None:
        # Pools by purpose (ADR-005 §6): `pool` for the answers of the session path (numbers,
        # token decisions, joins) and `fast` for what a charger is answered from without a
        # workflow (handshake, boot, status, storing outbox rows), so a saturated session path
        # never holds a connection a StatusNotification waits for.
        # Autocommit: a single statement is one round trip (no BEGIN, no COMMIT); what must be
        # atomic says so with `conn.transaction()`.
        # A charger waits at most 30 s for an answer: a connection not had within 10 s (the
        # database restarting) fails the call, so the charger gets an error it retries on
        # rather than silence.
        url = libpq_url(database_url)
        options = {"autocommit": True}
        self.pool = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, kwargs=options, timeout=_ANSWER_WAIT_S
        )
        self.fast = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False, kwargs=options, timeout=_ANSWER_WAIT_S
        )
        # The recorder's batch writers (meter samples, the message log) have their own, so a
        # large batch never holds a connection a StatusNotification waits for.
        self.recording = AsyncConnectionPool(
            url, min_size=1, max_size=_RECORDING_CONNECTIONS, open=False, kwargs=options
        )
        # The outbox drain (background delivery to workflows) has its own, so a backlog of
        # deliveries never delays an answer either. Its writes are leases and delivered marks:
        # lost in a database crash, a row is delivered again (deliveries are idempotent), so
        # they do not wait for the disk flush that the charger's answers queue behind.
        self.delivery = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size // 2,
            open=False,
            kwargs={**options, "options": "-c synchronous_commit=off"},
        )

        self._connects = GroupCommit(self.fast, _CONNECT, "station", "route-writes")
        self._boots = GroupCommit(self.fast, _BOOT, "station", "boot-writes")

    @property
    def _pools(self) -> tuple[AsyncConnectionPool, ...]:
        return (self.pool, self.fast, self.recording, self.delivery)

    async def open(self) -> None:
        for pool in self._pools:
            await pool.open(wait=True)

    async def close(self) -> None:
        await self._connects.close()
        await self._boots.close()
        for pool in self._pools:
            await pool.close()

    async def identity(self, station_id: str) -> StationIdentity | None:
        async with self.fast.connection() as conn:
            cur = await conn.execute(
                "SELECT password_hash, security_profile, ocpp_versions, registration_status "
                "FROM stations WHERE id = %s",
                (station_id,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        versions = tuple(v.strip() for v in (row[2] or "").split(",") if v.strip())
        return StationIdentity(station_id, row[0], row[1], versions, row[3])

    async def admit_pending(self, station_id: str, password_hash: str) -> None:
        """Put an unknown station into the operator inbox (registration Pending)."""
        async with self.fast.connection() as conn:
            await conn.execute(
                "INSERT INTO stations (id, password_hash, security_profile, ocpp_versions, "
                "connector_count, registration_status, connected) "
                "VALUES (%s, %s, 1, 'ocpp1.6,ocpp2.0.1', 1, 'Pending', false) "
                "ON CONFLICT (id) DO NOTHING",
                (station_id, password_hash),
            )

    async def registration_status(self, station_id: str) -> str | None:
        async with self.fast.connection() as conn:
            cur = await conn.execute(
                "SELECT registration_status FROM stations WHERE id = %s", (station_id,)
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def record_boot(self, station_id: str, info: dict, at: datetime) -> BootRecord:
        """Store the boot facts and use up an operator's "Pending at the next boot" mark
        (`POST /stations/{id}/pending-boot`: the station goes to the operator inbox until it is
        approved); returns its registration status and whether it holds a local authorization
        list. Shares its statement with the boots of other stations meanwhile."""
        rows = await self._boots.write(
            {
                "station": station_id,
                **{field: _text(info.get(field)) for field in _BOOT_FIELDS},
                "at": at.isoformat(),
            }
        )
        return BootRecord(rows[0][1], rows[0][2]) if rows else BootRecord(None, False)

    async def set_connected(
        self, station_id: str, at: datetime, task_queue: str, version: str
    ) -> tuple[str, str | None] | None:
        """Record that this gateway (its command queue) now holds the station's socket (shares
        its statement with the connects of other stations meanwhile).

        Returns the route it took over from another gateway (its queue and OCPP version) when
        the station was connected there, else None.
        """
        rows = await self._connects.write(
            {"station": station_id, "at": at.isoformat(), "queue": task_queue, "version": version}
        )
        if rows and rows[0][1] and rows[0][2] not in (None, task_queue):
            return rows[0][2], rows[0][3]
        return None

    async def hand_back(
        self, station_id: str, task_queue: str, previous: tuple[str, str | None]
    ) -> bool:
        """Give the route back to the gateway this one took it from (a socket that closed
        without a frame, while the station's socket there may carry on), unless another gateway
        has taken the station over meanwhile. True when it was handed back."""
        async with self.fast.connection() as conn:
            cur = await conn.execute(
                "UPDATE stations SET connected = true, gateway_queue = %s, connected_version = %s "
                "WHERE id = %s AND gateway_queue = %s",
                (*previous, station_id, task_queue),
            )
            return cur.rowcount > 0

    async def set_disconnected(self, station_id: str, at: datetime, task_queue: str) -> bool:
        """Clear the route, unless another gateway has taken the station over meanwhile.

        True when this gateway still owned the route: only then is the station offline.
        """
        async with self.fast.connection() as conn:
            cur = await conn.execute(
                "UPDATE stations SET connected = false, last_seen_at = %s, gateway_queue = NULL "
                "WHERE id = %s AND gateway_queue = %s",
                (at, station_id, task_queue),
            )
            return cur.rowcount > 0

    async def touch(self, station_id: str, at: datetime) -> None:
        async with self.fast.connection() as conn:
            await conn.execute(
                "UPDATE stations SET last_seen_at = %s WHERE id = %s", (at, station_id)
            )

    async def next_session_number(self) -> int:
        """A fresh, globally unique session number (the 1.6 transactionId)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT nextval('session_number_seq')")
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def remote_started_session(
        self, station_id: str, id_token: str, connector_id: int
    ) -> str | None:
        """The transaction number of a remote start waiting for this charger's start, if any."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT transaction_id FROM sessions WHERE station_id = %s AND id_token = %s "
                "AND state = 'Pending' AND started_at IS NULL "
                "AND (connector_id IS NULL OR connector_id = %s) "
                "ORDER BY created_at DESC LIMIT 1",
                (station_id, id_token, connector_id),
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def charger_transaction(self, station_id: str, transaction_id: str) -> str | None:
        """The session of a 2.0.1 charger's transactionId at this station (ADR-005), if any."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT session_id FROM charger_transactions "
                "WHERE station_id = %s AND transaction_id = %s",
                (station_id, transaction_id),
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def map_charger_transaction(
        self, station_id: str, transaction_id: str, session_id: str, *, replace: bool = False
    ) -> str:
        """Map a charger's transactionId to `session_id`; returns the session it maps to.

        Without `replace` the first mapping wins (two gateways seeing one Started agree).
        """
        async with self.pool.connection() as conn:
            if replace:
                await conn.execute(
                    "INSERT INTO charger_transactions (station_id, transaction_id, session_id) "
                    "VALUES (%s, %s, %s) ON CONFLICT (station_id, transaction_id) "
                    "DO UPDATE SET session_id = EXCLUDED.session_id, created_at = now()",
                    (station_id, transaction_id, session_id),
                )
                return session_id
            cur = await conn.execute(
                "INSERT INTO charger_transactions (station_id, transaction_id, session_id) "
                "VALUES (%s, %s, %s) ON CONFLICT (station_id, transaction_id) DO UPDATE "
                "SET station_id = charger_transactions.station_id RETURNING session_id",
                (station_id, transaction_id, session_id),
            )
            row = await cur.fetchone()
        assert row is not None
        return row[0]

    async def claim_session(self, session_id: str) -> bool:
        """Join a Pending session once: True for the first start that claims it."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO session_claims (session_id) VALUES (%s) "
                "ON CONFLICT DO NOTHING RETURNING session_id",
                (session_id,),
            )
            return await cur.fetchone() is not None

    async def remember_authorization(
        self, station_id: str, id_token: str, session_id: str, valid_s: float
    ) -> None:
        """A 1.6 Authorize accepted into `session_id`: the Start with this idTag joins it."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO charger_authorizations (station_id, id_token, session_id, expires_at) "
                "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (station_id, id_token) DO UPDATE SET "
                "session_id = EXCLUDED.session_id, expires_at = EXCLUDED.expires_at",
                (station_id, _text(id_token)[:64], session_id, valid_s),
            )

    async def take_authorization(self, station_id: str, id_token: str) -> str | None:
        """The session a recent Authorize of this idTag opened here (taken once), if any."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM charger_authorizations WHERE station_id = %s AND id_token = %s "
                "RETURNING session_id, expires_at > now()",
                (station_id, _text(id_token)[:64]),
            )
            row = await cur.fetchone()
        return row[0] if row and row[1] else None

    async def recent_start(
        self, station_id: str, message_id: str, fingerprint: str, window_s: float
    ) -> str | None:
        """The session key of a start with this content (and message id, if given) stored
        lately by any gateway."""
        query = (
            "SELECT payload->>'transaction_id' FROM station_outbox WHERE station_id = %s "
            "AND kind = 'start' AND payload->>'fingerprint' = %s "
            "AND created_at > now() - make_interval(secs => %s)"
        )
        params: tuple = (station_id, _text(fingerprint), window_s)
        if message_id:
            query += " AND message_id = %s"
            params += (_text(message_id)[:64],)
        async with self.pool.connection() as conn:
            cur = await conn.execute(query + " ORDER BY id DESC LIMIT 1", params)
            row = await cur.fetchone()
        return row[0] if row else None

    async def record_event(self, station_id: str, kind: str, detail: dict) -> None:
        """Something an operator should see (refused handshake, unknown transaction, ...)."""
        async with self.fast.connection() as conn:
            await conn.execute(
                "INSERT INTO station_events (station_id, kind, detail) VALUES (%s, %s, %s)",
                # jsonb cannot hold \u0000 either: drop it from what chargers sent
                (station_id[:48], kind, orjson.dumps(detail).decode().replace("\\u0000", "")),
            )

    async def fetch_dicts(self, query: str, params: tuple | dict) -> list[dict]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query, params)
            return await cur.fetchall()


def _text(value: _S) -> _S:
    """What a charger sent, storable as PostgreSQL text (which cannot hold NUL)."""
    return value.replace("\x00", "") if value else value
