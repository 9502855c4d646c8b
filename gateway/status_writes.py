"""Group commit of connector statuses: the StatusNotifications of many stations, one statement.

A status is answered only once it is committed, with a report for each session on its
connector (ADR-005 §3, §6). In a connect-and-boot storm a thousand chargers send two or three
statuses each within seconds: the statuses that arrive while a batch commits go out together in
the next (`gateway.group_commit`).
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from domain.session import ConnectorStatusUpdate
from gateway.group_commit import GroupCommit

# Each status: the connector's row (the last status of a connector in the batch wins), and a
# report for each session on that connector that has not ended — with a `sessions` row, or
# with its start still waiting in the outbox (as `StationOutbox.put_links`).
_STATUSES_FOR_SESSIONS = (
    "WITH r AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(ord int, station varchar, "
    "connector int, status varchar, error_code varchar, at timestamptz, payload jsonb)), "
    "latest AS (SELECT DISTINCT ON (station, connector) station, connector, status, error_code, "
    "at FROM r ORDER BY station, connector, ord DESC), "
    "connector AS (INSERT INTO connectors (station_id, connector_id, status, error_code, "
    "updated_at) SELECT station, connector, status, error_code, at FROM latest "
    "ON CONFLICT (station_id, connector_id) DO UPDATE SET status = EXCLUDED.status, "
    "error_code = EXCLUDED.error_code, updated_at = EXCLUDED.updated_at) "
    "INSERT INTO station_outbox (station_id, session_id, kind, payload) "
    "SELECT r.station, active.session_id, 'status', r.payload FROM r CROSS JOIN LATERAL ("
    "SELECT id AS session_id FROM sessions WHERE station_id = r.station "
    "AND state IN ('Pending', 'Charging') AND connector_id = r.connector "
    "UNION SELECT session_id FROM station_outbox WHERE station_id = r.station "
    "AND kind = 'start' AND delivered_at IS NULL "
    "AND (payload->'request'->>'connector_id')::int = r.connector"
    ") active ORDER BY r.ord, active.session_id RETURNING station_id"
)


class StatusWrites:
    """Connector statuses written in batches (`GroupCommit`); each caller waits for its own
    commit."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._writes = GroupCommit(pool, _STATUSES_FOR_SESSIONS, "station", "status-writes")

    async def write(self, station_id: str, connector_id: int, update: ConnectorStatusUpdate) -> int:
        """Store the status and its sessions' reports; returns, once committed, how many reports
        the station got in its batch (0: none to deliver)."""
        reported = await self._writes.write(
            {
                "station": station_id,
                "connector": connector_id,
                "status": update.status,
                "error_code": update.error_code,
                "at": update.timestamp.isoformat(),
                "payload": update.model_dump(mode="json"),
            }
        )
        return len(reported)

    async def close(self) -> None:
        """Finish the batches being committed; refuse what still waits (the pool is closing)."""
        await self._writes.close()
