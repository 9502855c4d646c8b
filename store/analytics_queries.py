"""The analytics and fleet queries (PostgreSQL ≥ 16: multiranges, `pg_input_is_valid`), one
function per table.

Every function takes a SQLAlchemy `Connection` (the API's request session, or the worker's) and
a `domain.analytics.Scope`; the definitions are documented in `domain/analytics.py`. Time spans
are computed in SQL with `tstzmultirange` arithmetic, so overlaps (offline while faulted, a
maintenance window over an outage) are counted once, and end at the scope's `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from domain.analytics import (
    ABNORMAL_STOP_REASONS,
    CHARGING_STATUSES,
    CLOCK_TOLERANCE,
    FAILED_STATES,
    FINISHED_STATES,
    NOT_COUNTED_STATES,
    OCCUPIED_STATUSES,
    TX_LOOKBACK,
    TX_LOOKBACK_FREE,
    Bucket,
    ConnectorTime,
    FailureRow,
    FleetOverview,
    HeatmapCell,
    LiveSession,
    RevenueRow,
    RevenueTotal,
    Scope,
    SessionSummary,
    UsageRow,
)

_EMPTY = "'{}'::tstzmultirange"


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = conn.exec_driver_sql(sql, params)
    return [dict(row._mapping) for row in result]


def _params(scope: Scope, **extra: Any) -> dict[str, Any]:
    return {
        "start": scope.start,
        "end": scope.end,
        "until": scope.counted_until(datetime.now(UTC)),
        "tz": scope.time_zone,
        "stations": scope.station_ids,
        "connector": scope.connector_id,
        **extra,
    }


def _where(scope: Scope, alias: str, *, connector: bool = True) -> str:
    """The scope's station / connector filter on a table alias."""
    sql = ""
    if scope.station_ids is not None:
        sql += f" AND {alias}.station_id = ANY(%(stations)s)"
    if connector and scope.connector_id is not None:
        sql += f" AND {alias}.connector_id = %(connector)s"
    return sql


def _started_in(scope: Scope) -> str:
    return (
        "s.started_at >= %(start)s AND s.started_at < %(end)s "
        "AND s.state <> ALL(%(not_counted)s)" + _where(scope, "s")
    )


def stations_of_site(conn: Connection, site_id: str) -> list[str]:
    """The stations at a site: a location (`stations.location_id`)."""
    rows = _rows(
        conn,
        "SELECT id FROM stations WHERE location_id = %(site)s ORDER BY 1",
        {"site": site_id},
    )
    return [row["id"] for row in rows]


def sites(conn: Connection) -> list[dict]:
    """Locations that hold stations (`id`, `name`), the sites of the monthly report."""
    return _rows(
        conn,
        "SELECT l.id, l.name FROM locations l "
        "WHERE EXISTS (SELECT 1 FROM stations s WHERE s.location_id = l.id) ORDER BY l.id",
        {},
    )


# ---- sessions ------------------------------------------------------------------------------


# Sessions started, and the energy and duration of those that ended (`s`: counted sessions).
_ENDED = "s.energy_wh IS NOT NULL AND s.duration_s IS NOT NULL"
_SESSION_FIGURES = f"""count(*) AS sessions_started,
               count(*) FILTER (WHERE {_ENDED}) AS sessions_ended,
               COALESCE(sum(s.energy_wh) FILTER (WHERE {_ENDED}), 0) AS ended_energy_wh,
               COALESCE(sum(s.duration_s) FILTER (WHERE {_ENDED}), 0) AS ended_duration_s"""


def usage(conn: Connection, scope: Scope, bucket: Bucket) -> list[UsageRow]:
    """Sessions started, and energy and duration of those ended, per day / week / month (empty
    buckets included)."""
    sql = f"""
    WITH buckets AS (
        SELECT generate_series(
            date_trunc(%(bucket)s, %(start)s AT TIME ZONE %(tz)s),
            %(end)s AT TIME ZONE %(tz)s - interval '1 microsecond',
            %(step)s::interval) AS period
    ), totals AS (
        SELECT date_trunc(%(bucket)s, s.started_at AT TIME ZONE %(tz)s) AS period,
               {_SESSION_FIGURES}
        FROM sessions s WHERE {_started_in(scope)}
        GROUP BY 1
    )
    SELECT b.period::date AS period, COALESCE(t.sessions_started, 0) AS sessions_started,
           COALESCE(t.sessions_ended, 0) AS sessions_ended,
           COALESCE(t.ended_energy_wh, 0) AS ended_energy_wh,
           COALESCE(t.ended_duration_s, 0) AS ended_duration_s
    FROM buckets b LEFT JOIN totals t USING (period) ORDER BY 1
    """
    params = _params(
        scope, bucket=bucket.value, step=f"1 {bucket.value}", not_counted=list(NOT_COUNTED_STATES)
    )
    return [UsageRow(**row) for row in _rows(conn, sql, params)]


def heatmap(conn: Connection, scope: Scope) -> list[HeatmapCell]:
    """Sessions and energy by ISO weekday × hour of their start (all 168 cells)."""
    sql = f"""
    WITH starts AS (
        SELECT extract(isodow FROM s.started_at AT TIME ZONE %(tz)s)::int AS weekday,
               extract(hour FROM s.started_at AT TIME ZONE %(tz)s)::int AS hour,
               {_SESSION_FIGURES}
        FROM sessions s WHERE {_started_in(scope)}
        GROUP BY 1, 2
    )
    SELECT d.weekday, h.hour, COALESCE(x.sessions_started, 0) AS sessions_started,
           COALESCE(x.ended_energy_wh, 0) AS ended_energy_wh
    FROM generate_series(1, 7) d(weekday) CROSS JOIN generate_series(0, 23) h(hour)
    LEFT JOIN starts x USING (weekday, hour) ORDER BY 1, 2
    """
    params = _params(scope, not_counted=list(NOT_COUNTED_STATES))
    return [HeatmapCell(**row) for row in _rows(conn, sql, params)]


def summary(conn: Connection, scope: Scope) -> SessionSummary:
    """Sessions started, ended and open; energy, duration and averages of the ended ones."""
    sql = f"""
    SELECT {_SESSION_FIGURES},
           (avg(s.energy_wh) FILTER (WHERE {_ENDED}))::float AS avg_energy_wh_per_ended,
           (avg(s.duration_s) FILTER (WHERE {_ENDED}))::float AS avg_duration_s_per_ended
    FROM sessions s WHERE {_started_in(scope)}
    """
    params = _params(scope, not_counted=list(NOT_COUNTED_STATES))
    row = _rows(conn, sql, params)[0]
    return SessionSummary(**row, sessions_open=row["sessions_started"] - row["sessions_ended"])


def revenue(conn: Connection, scope: Scope) -> list[RevenueRow]:
    """Rated amounts per currency and cost-line component."""
    sql = f"""
    SELECT COALESCE(s.currency, s.cost->>'currency') AS currency, line.component,
           sum(line.amount) AS amount, count(*) AS sessions
    FROM sessions s CROSS JOIN LATERAL (  -- one row per session and component
        SELECT l.component, sum(l.amount) AS amount
        FROM jsonb_to_recordset(s.cost->'lines') AS l(component text, amount bigint)
        GROUP BY l.component) line
    WHERE s.cost IS NOT NULL AND {_started_in(scope)}
    GROUP BY 1, 2 ORDER BY 1, 2
    """
    params = _params(scope, not_counted=list(NOT_COUNTED_STATES))
    return [RevenueRow(**row) for row in _rows(conn, sql, params)]


def revenue_totals(conn: Connection, scope: Scope) -> list[RevenueTotal]:
    """Net, VAT and total of the rated sessions per currency."""
    sql = f"""
    SELECT COALESCE(s.currency, s.cost->>'currency') AS currency, count(*) AS sessions,
           COALESCE(sum((s.cost->>'net')::bigint), 0) AS net,
           COALESCE(sum((s.cost->>'vat')::bigint), 0) AS vat,
           COALESCE(sum((s.cost->>'total')::bigint), 0) AS total
    FROM sessions s WHERE s.cost IS NOT NULL AND {_started_in(scope)}
    GROUP BY 1 ORDER BY 1
    """
    params = _params(scope, not_counted=list(NOT_COUNTED_STATES))
    return [RevenueTotal(**row) for row in _rows(conn, sql, params)]


def session_failures(conn: Connection, scope: Scope) -> list[FailureRow]:
    """Finished sessions that failed, by cause (final state, or abnormal stop reason)."""
    sql = f"""
    WITH finished AS (
        SELECT CASE WHEN s.state = ANY(%(failed)s) THEN s.state
                    WHEN s.stop_reason = ANY(%(abnormal)s) THEN 'Stopped:' || s.stop_reason
               END AS cause
        FROM sessions s
        WHERE COALESCE(s.started_at, s.created_at) >= %(start)s
          AND COALESCE(s.started_at, s.created_at) < %(end)s
          AND s.state = ANY(%(finished)s){_where(scope, "s")}
    ), counted AS (SELECT cause, count(*) OVER () AS total FROM finished)
    SELECT cause, count(*) AS count, total, count(*)::float / total AS rate
    FROM counted WHERE cause IS NOT NULL GROUP BY cause, total ORDER BY count DESC, cause
    """
    params = _params(
        scope,
        failed=list(FAILED_STATES),
        abnormal=list(ABNORMAL_STOP_REASONS),
        finished=list(FINISHED_STATES),
    )
    return [FailureRow(**row) for row in _rows(conn, sql, params)]


# Authorization answers in the message log (partial index ix_ocpp_messages_auth_answers): the
# frames we send with these actions are answers (CALLRESULT, or CALLERROR without a status).
AUTH_ANSWERS = """
    SELECT m.station_id, COALESCE(j.frame->2->'idTagInfo'->>'status',
                                  j.frame->2->'idTokenInfo'->>'status') AS status
    FROM ocpp_messages m CROSS JOIN LATERAL (SELECT m.payload::jsonb AS frame) j
    WHERE m.direction = 'out'
      AND m.action IN ('Authorize', 'StartTransaction', 'TransactionEvent')
      AND m.at >= %(start)s AND m.at < %(end)s
"""


def auth_failures(conn: Connection, scope: Scope) -> list[FailureRow]:
    """Refused authorization answers by status (Invalid, Blocked, Expired, …)."""
    sql = f"""
    WITH answers AS ({AUTH_ANSWERS}{_where(scope, "m", connector=False)}),
    counted AS (SELECT status, count(*) OVER () AS total FROM answers WHERE status IS NOT NULL)
    SELECT status AS cause, count(*) AS count, total, count(*)::float / total AS rate
    FROM counted WHERE status <> 'Accepted' GROUP BY status, total ORDER BY count DESC, cause
    """
    return [FailureRow(**row) for row in _rows(conn, sql, _params(scope))]


# ---- connector time: utilization and uptime ------------------------------------------------


def _seconds(multirange: str) -> str:
    return (
        "(SELECT COALESCE(sum(extract(epoch FROM upper(r) - lower(r))), 0)::float "
        f"FROM unnest({multirange}) r)"
    )


def _clamp(value: str, low: str = "%(start)s") -> str:
    """`value` moved into [low, until] (low ≤ until), so spans never reach past now."""
    return f"LEAST(GREATEST({value}, {low}), %(until)s)"


# The gateway logs a frame with its action only once orjson has parsed it; of what orjson
# accepts, jsonb refuses only the escape \u0000. Frames showing that or anything else unusual
# (NaN, Infinity, surrogate escapes) are checked before they are cast; the rest are cast at
# once (checking every frame would parse it twice).
_PLAIN_JSON = (
    "("
    + " + ".join(
        f"strpos(m.payload, '{odd}')" for odd in ("\\u0000", "NaN", "Infinity", "\\ud", "\\uD")
    )
    + ") = 0"
)
# Only these frames can change a transaction's charging timeline (most periodic Updated events
# carry meter values alone): skip the rest unparsed.
_MATTERS = (
    "(strpos(m.payload, '\"chargingState\"') > 0 OR strpos(m.payload, '\"Ended\"') > 0 "
    "OR strpos(m.payload, '\"evse\"') > 0)"
)


def _field(json: str, pattern: str, cast: str) -> str:
    """A JSON text field cast when it looks right, else NULL (a malformed frame never fails)."""
    return (
        f"CASE WHEN {json} ~ '{pattern}' AND pg_input_is_valid({json}, '{cast}') "
        f"THEN ({json})::{cast} END"
    )


# The chargingState timeline of every 2.0.1 transaction of the scope's stations, from the
# TransactionEvent frames in the message log: a chargingState holds from its event's timestamp
# (the charger's clock, as the session's idle tracking uses it) until the transaction's next
# chargingState, its Ended event, or the start of the next transaction on its EVSE (the one the
# transaction names; 2.0.1 names it once, in its first event).
_TX_CHARGING = f"""
    v201 AS (  -- charging needs an occupied connector: stations with a 2.0.1 Occupied span,
               -- read back far only when a connector is occupied as the period starts
        SELECT station_id, %(start)s - CASE WHEN bool_or(span @> %(start)s::timestamptz)
                                            THEN %(lookback)s ELSE %(lookback_free)s END AS since
        FROM spans WHERE status = 'Occupied' AND NOT isempty(span) GROUP BY station_id
    ), tx_events AS MATERIALIZED (
        SELECT station_id, id, p -> 'transactionInfo' ->> 'transactionId' AS tx,
               p ->> 'eventType' AS event_type,
               p -> 'transactionInfo' ->> 'chargingState' AS state,
               {_field("p -> 'evse' ->> 'id'", "^[0-9]{1,9}$", "int")} AS evse,
               {_field("p ->> 'timestamp'", "^[0-9]{4}-[0-9]{2}-[0-9]{2}T", "timestamptz")}
                   AS ts
        FROM (
            SELECT m.station_id, m.id,
                   CASE WHEN {_PLAIN_JSON} OR pg_input_is_valid(m.payload, 'jsonb')
                        THEN m.payload::jsonb -> 3 END AS p
            FROM ocpp_messages m JOIN v201 USING (station_id)
            WHERE m.direction = 'in' AND m.message_type = 2 AND m.action = 'TransactionEvent'
              AND m.at >= v201.since AND {_MATTERS}
            OFFSET 0) frames  -- a fence: each frame is parsed once
    ), tx_info AS (  -- per transaction: its first event and the EVSE it names
        SELECT station_id, tx, min(ts) AS first_ts, min(evse) AS evse
        FROM tx_events WHERE tx IS NOT NULL AND ts IS NOT NULL GROUP BY 1, 2
    ), tx_cut AS (  -- a transaction ends, at the latest, when the next one on its EVSE starts
        SELECT station_id, tx, evse, LEAD(first_ts, 1, 'infinity') OVER (
                   PARTITION BY station_id, evse ORDER BY first_ts, tx) AS cut
        FROM tx_info WHERE evse IS NOT NULL
    ), tx_spans AS (
        SELECT e.station_id, c.evse, e.state, e.ts AS since, LEAST(LEAD(e.ts, 1, 'infinity') OVER (
                   PARTITION BY e.station_id, e.tx ORDER BY e.ts, e.id), c.cut) AS till
        FROM (SELECT station_id, tx, id, ts,
                     CASE WHEN event_type = 'Ended' THEN 'Ended' ELSE state END AS state
              FROM tx_events
              WHERE ts IS NOT NULL AND (state IS NOT NULL OR event_type = 'Ended')) e
        JOIN tx_cut c USING (station_id, tx)
    ), tx_charging AS (
        SELECT station_id, evse AS connector_id,
               range_agg(tstzrange({_clamp("since")}, {_clamp("GREATEST(till, since)")})) AS mr
        FROM tx_spans WHERE evse IS NOT NULL AND state = ANY(%(charging)s)
        GROUP BY 1, 2
    )"""


def connector_time(conn: Connection, scope: Scope) -> list[ConnectorTime]:
    """Observed, charging, occupied, excluded, offline, faulted and available seconds."""
    sql = f"""
    WITH conns AS (
        SELECT c.station_id, c.connector_id,
               LEAST(GREATEST(%(start)s, f.born - %(tolerance)s), %(until)s) AS lo
        FROM connectors c CROSS JOIN LATERAL (  -- our clock when its first status arrived
            SELECT h.received_at AS born FROM connector_status_history h
            WHERE h.station_id = c.station_id AND h.connector_id = c.connector_id
            ORDER BY h.at, h.id LIMIT 1) f
        WHERE c.connector_id > 0{_where(scope, "c")}
    ), hist AS (
        SELECT h.id, h.station_id, h.connector_id, conns.lo, h.status, h.at
        FROM connector_status_history h JOIN conns USING (station_id, connector_id)
        WHERE h.at >= %(start)s AND h.at < %(end)s
        UNION ALL
        SELECT p.id, c.station_id, c.connector_id, c.lo, p.status, p.at FROM conns c
        CROSS JOIN LATERAL (
            SELECT h.id, h.status, h.at FROM connector_status_history h
            WHERE h.station_id = c.station_id AND h.connector_id = c.connector_id
              AND h.at < %(start)s
            ORDER BY h.at DESC, h.id DESC LIMIT 1) p
    ), spans AS (
        SELECT station_id, connector_id, status,
               tstzrange({_clamp("at", "lo")},
                         {
        _clamp(
            "LEAD(at, 1, %(end)s) OVER (PARTITION BY station_id, connector_id ORDER BY at, id)",
            "lo",
        )
    }) AS span
        FROM hist
    ), states AS (
        SELECT station_id, connector_id,
               range_agg(span) AS observed,
               COALESCE(range_agg(span) FILTER (WHERE status = ANY(%(charging)s)), {_EMPTY})
                   AS charging,
               COALESCE(range_agg(span) FILTER (WHERE status = ANY(%(occupied)s)), {_EMPTY})
                   AS occupied,
               COALESCE(range_agg(span) FILTER (WHERE status = 'Faulted'), {_EMPTY}) AS faulted
        FROM spans GROUP BY station_id, connector_id
    ), stations AS (
        SELECT DISTINCT station_id FROM conns
    ), links AS (
        SELECT l.id, l.station_id, l.online, l.at
        FROM station_link_history l JOIN stations USING (station_id)
        WHERE l.at >= %(start)s AND l.at < %(end)s
        UNION ALL
        SELECT p.id, st.station_id, p.online, p.at FROM stations st
        CROSS JOIN LATERAL (
            SELECT l.id, l.online, l.at FROM station_link_history l
            WHERE l.station_id = st.station_id AND l.at < %(start)s
            ORDER BY l.at DESC, l.id DESC LIMIT 1) p
    ), offline AS (
        SELECT station_id, range_agg(span) AS mr FROM (
            SELECT station_id, online,
                   tstzrange({_clamp("at")},
                             {
        _clamp("LEAD(at, 1, %(end)s) OVER (PARTITION BY station_id ORDER BY at, id)")
    }) AS span
            FROM links) x
        WHERE NOT online GROUP BY station_id
    ), excluded AS (
        SELECT c.station_id, c.connector_id,
               range_agg(tstzrange(GREATEST(w.starts_at, %(start)s), LEAST(w.ends_at, %(end)s)))
                   AS mr
        FROM conns c JOIN maintenance_windows w
          ON (w.station_id IS NULL OR w.station_id = c.station_id)
         AND (w.connector_id IS NULL OR w.connector_id = c.connector_id)
        WHERE w.starts_at < %(end)s AND w.ends_at > %(start)s
        GROUP BY 1, 2
    ),{_TX_CHARGING}, t AS (
        SELECT s.station_id, s.connector_id, s.observed,
               s.charging + COALESCE(x.mr, {_EMPTY}) * s.occupied AS charging,
               s.occupied, s.faulted,
               COALESCE(o.mr, {_EMPTY}) AS offline, COALESCE(e.mr, {_EMPTY}) AS excluded
        FROM states s LEFT JOIN offline o USING (station_id)
        LEFT JOIN excluded e USING (station_id, connector_id)
        LEFT JOIN tx_charging x USING (station_id, connector_id)
    )
    SELECT station_id, connector_id,
           {_seconds("observed")} AS observed_s,
           {_seconds("charging")} AS charging_s,
           {_seconds("occupied")} AS occupied_s,
           {_seconds("observed * excluded")} AS excluded_s,
           {_seconds("(observed - excluded) * offline")} AS offline_s,
           {_seconds("(observed - excluded - offline) * faulted")} AS faulted_s,
           {_seconds("observed - excluded - offline - faulted")} AS available_s
    FROM t ORDER BY station_id, connector_id
    """
    params = _params(
        scope,
        charging=list(CHARGING_STATUSES),
        occupied=list(OCCUPIED_STATUSES),
        lookback=TX_LOOKBACK,
        lookback_free=TX_LOOKBACK_FREE,
        tolerance=CLOCK_TOLERANCE,
    )
    return [ConnectorTime(**row) for row in _rows(conn, sql, params)]


# ---- the live fleet ------------------------------------------------------------------------

_LIVE_SESSIONS = """
SELECT s.id AS session_id, s.station_id, s.connector_id, s.state, s.started_at,
       l.energy_wh, l.power_w, l.soc_percent, l.at AS reading_at
FROM sessions s LEFT JOIN live_meters l ON l.session_id = s.id
WHERE s.state = 'Charging'
"""


def live_sessions(conn: Connection, station_ids: list[str] | None = None) -> list[LiveSession]:
    """Charging sessions with their last meter reading."""
    sql = _LIVE_SESSIONS
    if station_ids is not None:
        sql += " AND s.station_id = ANY(%(stations)s)"
    rows = _rows(conn, sql + " ORDER BY s.station_id, s.connector_id", {"stations": station_ids})
    return [LiveSession(**row) for row in rows]


def fleet_overview(conn: Connection) -> FleetOverview:
    """Stations online/offline, connectors by status, active sessions and their total power."""
    head = _rows(
        conn,
        """
        SELECT (SELECT count(*) FROM stations WHERE registration_status = 'Accepted') AS stations,
               (SELECT count(*) FROM stations WHERE registration_status = 'Accepted'
                  AND connected) AS stations_online,
               (SELECT count(*) FROM alerts WHERE state <> 'resolved') AS open_alerts,
               (SELECT count(*) FROM sessions WHERE state = 'Charging') AS active_sessions,
               (SELECT COALESCE(sum(l.power_w), 0)::float FROM sessions s
                  JOIN live_meters l ON l.session_id = s.id WHERE s.state = 'Charging') AS power_w
        """,
        {},
    )[0]
    statuses = _rows(
        conn,
        "SELECT status, count(*) AS n FROM connectors WHERE connector_id > 0 "
        "GROUP BY status ORDER BY status",
        {},
    )
    return FleetOverview(
        stations=head["stations"],
        stations_online=head["stations_online"],
        stations_offline=head["stations"] - head["stations_online"],
        connectors_by_status={row["status"]: row["n"] for row in statuses},
        active_sessions=head["active_sessions"],
        power_w=head["power_w"],
        open_alerts=head["open_alerts"],
    )
