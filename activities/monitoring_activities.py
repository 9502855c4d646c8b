"""Activities of monitoring: the alert sweep, webhook delivery, alerts for other workflows, and
the monthly report.

Every alert change goes through the shared statements of `store.monitoring_tables` (alert row,
event row and live notification in one statement). Webhooks are delivered from the
`alert_events` outbox in order, at least once (receivers de-duplicate by `event_id`), signed
with HMAC-SHA256 over the raw body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Connection
from temporalio import activity

from domain import alerts
from domain.alerts import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    AlertCause,
    AlertRaise,
    AlertResolve,
    DeliveryRequest,
    DeliveryResult,
    SweepRequest,
    SweepResult,
)
from domain.analytics import (
    Bucket,
    MonthlyReportRequest,
    ReportRef,
    ReportSection,
    ReportTable,
    Scope,
    UptimeRow,
    UtilizationRow,
    month_period,
    previous_month,
    render_chart,
    render_report,
)
from runtime.settings import Settings, get_settings
from store import analytics_queries as q
from store.db import Database
from store.monitoring_tables import RAISE_ALERT, RESOLVE_ALERTS

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 20  # a webhook event is retried at every sweep up to this many times …
_MAX_AGE = timedelta(days=1)  # … and while younger than this

_OPEN = "a.state <> 'resolved'"
_NO_OPEN_ALERT = (
    f"NOT EXISTS (SELECT 1 FROM alerts a WHERE a.key = %(prefix)s || {{id}} AND {_OPEN})"
)

_OFFLINE = f"""
SELECT s.id AS station_id, s.last_seen_at FROM stations s
WHERE NOT s.connected AND s.registration_status = 'Accepted' AND s.last_seen_at IS NOT NULL
  AND s.last_seen_at < now() - make_interval(secs => %(after)s)
  AND {_NO_OPEN_ALERT.format(id="s.id")}
"""
_OFFLINE_CLEARED = f"""
SELECT a.key FROM alerts a LEFT JOIN stations s ON s.id = a.station_id
WHERE a.cause = 'station_offline' AND {_OPEN} AND (s.id IS NULL OR s.connected)
"""
_STUCK = f"""
SELECT s.id AS session_id, s.station_id, s.connector_id,
       COALESCE(l.received_at, s.updated_at) AS last_at
FROM sessions s LEFT JOIN live_meters l ON l.session_id = s.id
WHERE s.state = 'Charging'
  AND COALESCE(l.received_at, s.updated_at) < now() - make_interval(secs => %(after)s)
  AND {_NO_OPEN_ALERT.format(id="s.id")}
"""
_STUCK_CLEARED = f"""
SELECT a.key FROM alerts a LEFT JOIN sessions s ON s.id = a.session_id
LEFT JOIN live_meters l ON l.session_id = s.id
WHERE a.cause = 'session_stuck' AND {_OPEN}
  AND (s.id IS NULL OR s.state <> 'Charging'
       OR COALESCE(l.received_at, s.updated_at) >= now() - make_interval(secs => %(after)s))
"""
_REFUSALS = f"""
WITH answers AS ({q.AUTH_ANSWERS})
SELECT station_id, count(*) FILTER (WHERE status <> 'Accepted') AS refused
FROM answers WHERE status IS NOT NULL GROUP BY station_id
"""
_OPEN_KEYS = f"SELECT key, station_id FROM alerts a WHERE a.cause = %(cause)s AND {_OPEN}"
_PAYMENT_FAILED = """
SELECT s.id AS session_id, s.station_id, s.review_reason FROM sessions s
WHERE s.state = 'PaymentFailed'
  AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.key = %(prefix)s || s.id)
"""
_PAYMENT_CLEARED = f"""
SELECT a.key FROM alerts a LEFT JOIN sessions s ON s.id = a.session_id
WHERE a.cause = 'payment_failed' AND {_OPEN} AND (s.id IS NULL OR s.state <> 'PaymentFailed')
"""
_PURGE_LIVE_METERS = """
DELETE FROM live_meters l WHERE l.received_at < now() - interval '10 minutes'
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = l.session_id
                  AND s.state IN ('Pending', 'Charging'))
"""
_NEXT_EVENT = """
SELECT e.id, e.event, e.at, e.payload FROM alert_events e
WHERE e.delivered_at IS NULL AND e.attempts < %(max)s AND e.at > now() - %(age)s
ORDER BY e.id LIMIT 1 FOR UPDATE SKIP LOCKED
"""
_DELIVERED = (
    "UPDATE alert_events SET delivered_at = now(), attempts = attempts + 1 WHERE id = %(id)s"
)
_FAILED = (
    "UPDATE alert_events SET attempts = attempts + 1, last_error = %(error)s WHERE id = %(id)s"
)
_STORE_REPORT = """
INSERT INTO reports (kind, label, period_start, period_end, title, content_type, content, size,
                     workflow_id, created_by)
VALUES ('monthly', %(label)s, %(start)s, %(end)s, %(title)s, 'text/html; charset=utf-8',
        %(content)s, %(size)s, %(workflow_id)s, %(by)s)
ON CONFLICT (kind, period_start) DO UPDATE SET period_end = EXCLUDED.period_end,
    title = EXCLUDED.title, content = EXCLUDED.content, size = EXCLUDED.size,
    workflow_id = EXCLUDED.workflow_id, created_by = EXCLUDED.created_by, created_at = now()
RETURNING id
"""


def _rows(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> list[dict]:
    return [dict(row._mapping) for row in conn.exec_driver_sql(sql, params or {})]


def raise_alert(conn: Connection, alert: AlertRaise) -> int | None:
    """Open the alert unless one is open for its key; the new alert's id, or None."""
    rows = _rows(conn, RAISE_ALERT, alert.sql_params())
    return rows[0]["id"] if rows else None


def resolve_alerts(conn: Connection, request: AlertResolve) -> list[str]:
    """Resolve the open alerts of these keys; the keys that were open."""
    if not request.keys:
        return []
    params = {"keys": request.keys, "actor": request.actor, "note": request.note}
    return [row["key"] for row in _rows(conn, RESOLVE_ALERTS, params)]


class MonitoringActivities:
    """Bound methods registered on the worker (`monitoring_activities`)."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))  # the report's "now" (tests fix it)

    # ---- alerts --------------------------------------------------------------------------

    @activity.defn
    def sweep_alerts(self, request: SweepRequest) -> SweepResult:
        """Raise and resolve the time-based alerts, then deliver pending webhooks."""
        result = SweepResult(next_in_s=self.settings.alert_sweep_interval_s or 60.0)
        for check in (self._offline, self._stuck, self._auth_failures, self._payment_failed):
            with self.db.session() as session:
                raised, resolved = check(session.connection())
            result.raised += raised
            result.resolved += resolved
        with self.db.session() as session:
            session.connection().exec_driver_sql(_PURGE_LIVE_METERS)
        if request.deliver:
            result.delivered = self.deliver_alert_webhooks(DeliveryRequest()).delivered
        return result

    def _raise_all(self, conn: Connection, candidates: list[AlertRaise]) -> list[str]:
        return [a.key for a in candidates if raise_alert(conn, a) is not None]

    def _resolve(self, conn: Connection, keys: list[str], note: str) -> list[str]:
        return resolve_alerts(conn, AlertResolve(keys=keys, note=note))

    def _prefix(self, cause: AlertCause) -> str:
        return alerts.alert_key(cause, "")

    def _offline(self, conn: Connection) -> tuple[list[str], list[str]]:
        after = self.settings.alert_offline_after_s
        cleared = [r["key"] for r in _rows(conn, _OFFLINE_CLEARED)]
        resolved = self._resolve(conn, cleared, "the station is back online")
        prefix = self._prefix(AlertCause.STATION_OFFLINE)
        found = _rows(conn, _OFFLINE, {"after": after, "prefix": prefix})
        raised = self._raise_all(
            conn, [alerts.station_offline(r["station_id"], r["last_seen_at"]) for r in found]
        )
        return raised, resolved

    def _stuck(self, conn: Connection) -> tuple[list[str], list[str]]:
        params = {"after": self.settings.alert_stuck_after_s}
        cleared = [r["key"] for r in _rows(conn, _STUCK_CLEARED, params)]
        resolved = self._resolve(conn, cleared, "meter values arrive again, or the session ended")
        params["prefix"] = self._prefix(AlertCause.SESSION_STUCK)
        found = _rows(conn, _STUCK, params)
        raised = self._raise_all(
            conn,
            [
                alerts.session_stuck(
                    r["session_id"], r["station_id"], r["connector_id"], r["last_at"]
                )
                for r in found
            ],
        )
        return raised, resolved

    def _auth_failures(self, conn: Connection) -> tuple[list[str], list[str]]:
        window = self.settings.alert_auth_window_s
        now = datetime.now(UTC)
        params = {"start": now - timedelta(seconds=window), "end": now + timedelta(days=1)}
        refused = {r["station_id"]: r["refused"] for r in _rows(conn, _REFUSALS, params)}
        open_now = _rows(conn, _OPEN_KEYS, {"cause": AlertCause.AUTH_FAILURES.value})
        cleared = [r["key"] for r in open_now if not refused.get(r["station_id"])]
        resolved = self._resolve(conn, cleared, f"no refused authorization for {window} s")
        already = {r["station_id"] for r in open_now}
        candidates = [
            alerts.auth_failures(station, count, window)
            for station, count in sorted(refused.items())
            if count >= self.settings.alert_auth_failures and station not in already
        ]
        return self._raise_all(conn, candidates), resolved

    def _payment_failed(self, conn: Connection) -> tuple[list[str], list[str]]:
        cleared = [r["key"] for r in _rows(conn, _PAYMENT_CLEARED)]
        resolved = self._resolve(conn, cleared, "the session is no longer PaymentFailed")
        found = _rows(conn, _PAYMENT_FAILED, {"prefix": self._prefix(AlertCause.PAYMENT_FAILED)})
        raised = self._raise_all(
            conn,
            [
                alerts.payment_failed(r["session_id"], r["station_id"], r["review_reason"])
                for r in found
            ],
        )
        return raised, resolved

    @activity.defn
    def raise_alert(self, alert: AlertRaise) -> int | None:
        """For workflows: open an alert (None when one is already open for its key)."""
        with self.db.session() as session:
            return raise_alert(session.connection(), alert)

    @activity.defn
    def resolve_alerts(self, request: AlertResolve) -> list[str]:
        """For workflows: resolve the open alerts of these keys."""
        with self.db.session() as session:
            return resolve_alerts(session.connection(), request)

    # ---- webhooks ------------------------------------------------------------------------

    @activity.defn
    def deliver_alert_webhooks(self, request: DeliveryRequest) -> DeliveryResult:
        """POST pending alert events in order; stop at the first failure (retried later)."""
        result = DeliveryResult()
        url = self.settings.alert_webhook_url
        if not url:
            return result
        with httpx.Client(timeout=self.settings.alert_webhook_timeout_s) as http:
            for _ in range(request.limit):
                with self.db.session() as session:
                    conn = session.connection()
                    rows = _rows(conn, _NEXT_EVENT, {"max": _MAX_ATTEMPTS, "age": _MAX_AGE})
                    if not rows:
                        break
                    event = rows[0]
                    error = self._post(http, url, event)
                    if error is None:
                        conn.exec_driver_sql(_DELIVERED, {"id": event["id"]})
                        result.delivered += 1
                        continue
                    conn.exec_driver_sql(_FAILED, {"id": event["id"], "error": error[:500]})
                    result.failed += 1
                    break
        return result

    def _post(self, http: httpx.Client, url: str, event: dict) -> str | None:
        """Send one event; None on a 2xx answer, else the error."""
        body = json.dumps(
            alerts.webhook_body(event["id"], event["event"], event["at"], event["payload"]),
            separators=(",", ":"),
            default=str,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(event["id"]),
            "User-Agent": "ampflow-alerts",
        }
        if self.settings.alert_webhook_secret:
            headers[SIGNATURE_HEADER] = alerts.signature(self.settings.alert_webhook_secret, body)
        try:
            response = http.post(url, content=body, headers=headers)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    # ---- reports -------------------------------------------------------------------------

    @activity.defn
    def build_monthly_report(self, request: MonthlyReportRequest) -> ReportRef:
        """Query, chart and store the month's report (replacing an earlier one of the month)."""
        tz = self.settings.report_time_zone
        now = self.clock().astimezone(ZoneInfo(tz))
        month = request.month or previous_month(now)
        start, end = month_period(month, tz)
        title = f"Ampflow monthly report {month}"
        subtitle = f"{start.isoformat()} – {end.isoformat()} ({tz})"
        if now < end:  # the current month: connector time is counted up to now
            subtitle += f"; time counted up to {now.isoformat(timespec='seconds')}"
        with self.db.session() as session:
            conn = session.connection()
            fleet = Scope(start=start, end=end, time_zone=tz, now=now)
            sections = [self._section(conn, "Fleet", fleet)]
            for site in q.sites(conn):  # locations holding stations
                stations = q.stations_of_site(conn, site["id"])
                scope = fleet.model_copy(update={"station_ids": stations})
                sections.append(self._section(conn, f"Site {site['name']}", scope, charts=False))
            html = render_report(title, subtitle, sections)
            info = activity.info()
            params = {
                "label": month,
                "start": start,
                "end": end,
                "title": title,
                "content": html,
                "size": len(html.encode()),
                "workflow_id": info.workflow_id,
                "by": request.requested_by,
            }
            report_id = _rows(conn, _STORE_REPORT, params)[0]["id"]
        return ReportRef(report_id=report_id, month=month, title=title, size=params["size"])

    def _section(
        self, conn: Connection, title: str, scope: Scope, *, charts: bool = True
    ) -> ReportSection:
        times = q.connector_time(conn, scope)
        tables = {
            "usage": q.usage(conn, scope, Bucket.DAY),
            "summary": [q.summary(conn, scope)],
            "revenue": q.revenue(conn, scope),
            "revenue-totals": q.revenue_totals(conn, scope),
            "utilization": [UtilizationRow.of(t) for t in times],
            "uptime": [UptimeRow.of(t) for t in times],
            "session-failures": q.session_failures(conn, scope),
            "auth-failures": q.auth_failures(conn, scope),
        }
        section = ReportSection(
            title=title,
            tables=[
                ReportTable(
                    caption=name.replace("-", " ").capitalize(),
                    table=name,
                    rows=[row.model_dump(mode="json") for row in rows],
                )
                for name, rows in tables.items()
            ],
        )
        if charts:
            section.charts = {
                "Energy and sessions per day": render_chart("usage", tables["usage"]),
                "Sessions by weekday and hour": render_chart("heatmap", q.heatmap(conn, scope)),
                "Utilization per connector": render_chart("utilization", tables["utilization"]),
                "Availability per connector": render_chart("uptime", tables["uptime"]),
                "Revenue by component": render_chart("revenue", tables["revenue"]),
            }
        return section


def monitoring_activities(db: Database, settings: Settings | None = None) -> list:
    """The bound activity methods a worker registers (settings default: the environment)."""
    acts = MonitoringActivities(db, settings or get_settings())
    return [
        acts.sweep_alerts,
        acts.deliver_alert_webhooks,
        acts.raise_alert,
        acts.resolve_alerts,
        acts.build_monthly_report,
    ]
