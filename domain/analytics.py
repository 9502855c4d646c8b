"""Analytics vocabulary: the scope of a query, the row models of every analytics table, their
CSV form and their charts.

Definitions (the queries are in `store/analytics_queries.py`):
- A session belongs to the period of its start (`started_at`) and counts unless it was refused
  (Rejected) or never started (Expired). `sessions_started` counts these, running ones included;
  energy, duration and their averages are over the `sessions_ended` among them (ended with their
  final energy and duration recorded); `sessions_open` = started − ended.
- Utilization and uptime come from the connector status history: a status lasts until the
  connector's next status; the state before the period is the last status before it. Only
  time between a connector's first status and now is observed: time before it and time still
  to come are left out of every share. A first status dated more than `CLOCK_TOLERANCE` before
  it reached us is observed from that long before its arrival (a charger clock running late
  does not make a connector older than it is).
- Charging = status Charging (OCPP 1.6), or, in OCPP 2.0.1, a transaction whose chargingState
  (TransactionEvent) is Charging while the connector is occupied: the same chargingState the
  session's idle fee reads. 2.0.1 chargingStates are read from the TransactionEvent frames in
  the message log (`ocpp_messages`; for transactions already running, from `TX_LOOKBACK` or
  `TX_LOOKBACK_FREE` before the period); a transaction ends at its Ended event, or when the
  next one on its EVSE starts.
  Occupied = a vehicle is at the connector (Preparing, Charging, SuspendedEV, SuspendedEVSE,
  Finishing, and 2.0.1 Occupied).
- Available = the station is online (link history; no history = online) and the connector is
  not Faulted. Uptime = available / (observed − excluded), excluded being maintenance windows.
- Revenue sums the rated cost lines of sessions (`sessions.cost`) per currency and component.
- Authorization failure rates count every authorization answer the CSMS sent (Authorize,
  StartTransaction, TransactionEvent with a token) from the OCPP message log.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

CHARGING_STATUSES = ("Charging",)  # 1.6 connector status; also the 2.0.1 chargingState
OCCUPIED_STATUSES = (
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Occupied",
)
NOT_COUNTED_STATES = ("Rejected", "Expired")  # never charged
FINISHED_STATES = ("Completed", "Rejected", "Expired", "PaymentFailed", "NeedsReview")
FAILED_STATES = ("Rejected", "Expired", "PaymentFailed", "NeedsReview")
# Stop reasons (1.6 and 2.0.1) that mean the session ended abnormally.
ABNORMAL_STOP_REASONS = (
    "EmergencyStop",
    "PowerLoss",
    "HardReset",
    "SoftReset",
    "Reboot",
    "ImmediateReset",
    "GroundFault",
    "OvercurrentFault",
    "PowerQuality",
    "DeAuthorized",
    "Timeout",
    "Other",
)
# How far before a period the message log is read for 2.0.1 transactions already running at its
# start: on a connector occupied then (sessions are stopped after `AMPFLOW_MAX_SESSION_S`, 72 h
# by default), and on a free one (a transaction started at authorization, before the plug-in).
TX_LOOKBACK = timedelta(days=7)
TX_LOOKBACK_FREE = timedelta(hours=1)
# How far a connector's first status may be dated before it reached us (latency, clocks that
# report whole seconds) and still count from its own timestamp.
CLOCK_TOLERANCE = timedelta(minutes=5)


class Bucket(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO weeks, starting on Monday
    MONTH = "month"


class Scope(BaseModel):
    """What an analytics query covers: [start, end), optionally some stations / one connector.

    Connector time (utilization, uptime) is counted only up to `now`: the rest of the period
    has not happened yet.
    """

    start: datetime
    end: datetime
    time_zone: str = "UTC"  # of day/week/month buckets and of the heatmap
    station_ids: list[str] | None = None  # None: every station (a site resolves to its list)
    connector_id: int | None = None
    now: datetime | None = None  # None: the current time when the query runs

    def counted_until(self, now: datetime) -> datetime:
        """The end of the observable part of the period: `now` clamped into [start, end]."""
        return min(max(self.now or now, self.start), self.end)


# ---- rows ----------------------------------------------------------------------------------


_STARTED = "sessions that started in the period (not refused or never started), running included"
_ENDED = "of those, the sessions that ended with their final energy and duration recorded"
_OPEN = "started but not ended yet (running, or being settled): not in energy or duration"


class UsageRow(BaseModel):
    period: date = Field(description="the first day of the bucket, in the scope's time zone")
    sessions_started: int = Field(description=_STARTED)
    sessions_ended: int = Field(description=_ENDED)
    ended_energy_wh: int = Field(description="energy (Wh) of the ended sessions")
    ended_duration_s: int = Field(description="duration (s) of the ended sessions")


class HeatmapCell(BaseModel):
    weekday: int = Field(description="ISO: 1 = Monday … 7 = Sunday")
    hour: int = Field(description="0 … 23")
    sessions_started: int = Field(description=_STARTED)
    ended_energy_wh: int = Field(description="energy (Wh) of those that ended")


class SessionSummary(BaseModel):
    sessions_started: int = Field(description=_STARTED)
    sessions_ended: int = Field(description=_ENDED)
    sessions_open: int = Field(description=_OPEN)
    ended_energy_wh: int = Field(description="energy (Wh) of the ended sessions")
    ended_duration_s: int = Field(description="duration (s) of the ended sessions")
    avg_energy_wh_per_ended: float | None = Field(description="ended_energy_wh / sessions_ended")
    avg_duration_s_per_ended: float | None = Field(description="ended_duration_s / sessions_ended")


class RevenueRow(BaseModel):
    currency: str
    component: str  # energy | time | session | idle | adjustment | …
    amount: int  # minor units, as rated (gross when the tariff's prices include VAT)
    sessions: int


class RevenueTotal(BaseModel):
    currency: str
    sessions: int
    net: int
    vat: int
    total: int


class FailureRow(BaseModel):
    cause: str
    count: int
    total: int
    rate: float


class ConnectorTime(BaseModel):
    """Seconds per connector in the scope (the base of utilization and uptime)."""

    station_id: str
    connector_id: int
    observed_s: float
    charging_s: float
    occupied_s: float
    excluded_s: float
    offline_s: float
    faulted_s: float
    available_s: float


class UtilizationRow(BaseModel):
    station_id: str
    connector_id: int
    observed_s: float
    charging_s: float
    occupied_s: float
    charging_share: float | None
    occupied_share: float | None

    @classmethod
    def of(cls, t: ConnectorTime) -> UtilizationRow:
        share = (lambda s: s / t.observed_s) if t.observed_s > 0 else (lambda s: None)
        return cls(
            station_id=t.station_id,
            connector_id=t.connector_id,
            observed_s=t.observed_s,
            charging_s=t.charging_s,
            occupied_s=t.occupied_s,
            charging_share=share(t.charging_s),
            occupied_share=share(t.occupied_s),
        )


class UptimeRow(BaseModel):
    station_id: str
    connector_id: int
    observed_s: float
    excluded_s: float
    offline_s: float
    faulted_s: float
    available_s: float
    uptime: float | None  # available / (observed − excluded)

    @classmethod
    def of(cls, t: ConnectorTime) -> UptimeRow:
        counted = t.observed_s - t.excluded_s
        return cls(
            station_id=t.station_id,
            connector_id=t.connector_id,
            observed_s=t.observed_s,
            excluded_s=t.excluded_s,
            offline_s=t.offline_s,
            faulted_s=t.faulted_s,
            available_s=t.available_s,
            uptime=t.available_s / counted if counted > 0 else None,
        )


# Every analytics table by its URL name (also the CSV file name).
TABLES: dict[str, type[BaseModel]] = {
    "usage": UsageRow,
    "heatmap": HeatmapCell,
    "summary": SessionSummary,
    "revenue": RevenueRow,
    "revenue-totals": RevenueTotal,
    "session-failures": FailureRow,
    "auth-failures": FailureRow,
    "utilization": UtilizationRow,
    "uptime": UptimeRow,
}
CHARTS = ("usage", "heatmap", "utilization", "uptime", "revenue")


def to_csv(model: type[BaseModel], rows: Iterable[BaseModel]) -> str:
    """RFC 4180 CSV with a header row of the model's fields."""
    columns = list(model.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data[c] is None else data[c] for c in columns])
    return out.getvalue()


# ---- charts (matplotlib, Agg; imported lazily so the API starts without it) ----------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


_MATPLOTLIB_IMPORT = threading.Lock()


def _matplotlib():
    """matplotlib's Figure and Agg canvas, imported once: two threads importing it for the
    first time at once (an API request and a report activity) can leave its docstring
    registry half-built for the whole process (`KeyError: 'Axes:kwdoc'`)."""
    with _MATPLOTLIB_IMPORT:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    return Figure, FigureCanvasAgg


def preload_charts() -> None:
    """Import matplotlib now (workers call this at start, before any workflow runs)."""
    _matplotlib()


def render_chart(name: str, rows: Sequence[BaseModel], fmt: str = "png") -> bytes:
    """One chart of an analytics table as PNG or SVG bytes (thread-safe: no pyplot)."""
    Figure, FigureCanvasAgg = _matplotlib()  # noqa: N806
    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _DRAW[name](axes, rows)
    out = io.BytesIO()
    figure.savefig(out, format=fmt, metadata=_metadata(fmt))
    return out.getvalue()


def _metadata(fmt: str) -> dict:
    # Reproducible files: no creation date in the output.
    return {"Date": None} if fmt == "svg" else {}


def _connector_labels(rows: Sequence) -> list[str]:
    return [f"{r.station_id}/{r.connector_id}" for r in rows]


def _draw_usage(axes, rows: Sequence[UsageRow]) -> None:
    labels = [r.period.isoformat() for r in rows]
    axes.bar(labels, [r.ended_energy_wh / 1000 for r in rows], color="#2a7ab0")
    axes.set_ylabel("energy of ended sessions (kWh)")
    axes.set_title("Energy and sessions per period")
    twin = axes.twinx()
    twin.plot(labels, [r.sessions_started for r in rows], color="#d9822b", marker="o")
    twin.set_ylabel("sessions started")
    axes.tick_params(axis="x", labelrotation=60, labelsize=7)


def _draw_heatmap(axes, rows: Sequence[HeatmapCell]) -> None:
    grid = [[0] * 24 for _ in range(7)]
    for cell in rows:
        grid[cell.weekday - 1][cell.hour] = cell.sessions_started
    image = axes.imshow(grid, aspect="auto", cmap="viridis")
    axes.set_yticks(range(7), _WEEKDAYS)
    axes.set_xticks(range(0, 24, 2))
    axes.set_xlabel("hour of day")
    axes.set_title("Sessions started (weekday × hour)")
    axes.figure.colorbar(image, ax=axes)


def _draw_utilization(axes, rows: Sequence[UtilizationRow]) -> None:
    labels = _connector_labels(rows)
    axes.barh(labels, [100 * (r.occupied_share or 0) for r in rows], color="#9cc3e0")
    axes.barh(labels, [100 * (r.charging_share or 0) for r in rows], color="#2a7ab0")
    axes.set_xlabel("% of observed time (dark: charging, light: occupied)")
    axes.set_xlim(0, 100)
    axes.set_title("Utilization per connector")


def _draw_uptime(axes, rows: Sequence[UptimeRow]) -> None:
    axes.barh(_connector_labels(rows), [100 * (r.uptime or 0) for r in rows], color="#3a9a5b")
    axes.set_xlabel("% available (excluding maintenance windows)")
    axes.set_xlim(0, 100)
    axes.set_title("Availability per connector")


def _draw_revenue(axes, rows: Sequence[RevenueRow]) -> None:
    labels = [f"{r.component} ({r.currency})" for r in rows]
    axes.bar(labels, [r.amount / 100 for r in rows], color="#7b5ea7")
    axes.set_ylabel("amount (major units)")
    axes.set_title("Revenue by component")


_DRAW = {
    "usage": _draw_usage,
    "heatmap": _draw_heatmap,
    "utilization": _draw_utilization,
    "uptime": _draw_uptime,
    "revenue": _draw_revenue,
}


# ---- the live fleet ------------------------------------------------------------------------


class LiveSession(BaseModel):
    """A running session with its last meter reading."""

    session_id: str
    station_id: str
    connector_id: int | None
    state: str
    started_at: datetime | None
    energy_wh: int | None  # the meter register at the last reading
    power_w: float | None  # as sent, or derived from the last two energy readings
    soc_percent: float | None
    reading_at: datetime | None


class FleetOverview(BaseModel):
    stations: int
    stations_online: int
    stations_offline: int
    connectors_by_status: dict[str, int]
    active_sessions: int
    power_w: float  # sum of the last known power of the active sessions
    open_alerts: int


# ---- reports -------------------------------------------------------------------------------

MONTHLY_REPORT = "MonthlyReport"  # workflow type


def report_schedule_id(task_queue: str) -> str:
    """The Temporal Schedule of the monthly report, e.g. `monthly-report-ampflow-sessions`."""
    return f"monthly-report-{task_queue}"


def month_period(month: str, time_zone: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of `YYYY-MM` in a time zone."""
    from zoneinfo import ZoneInfo

    year, number = (int(part) for part in month.split("-"))
    zone = ZoneInfo(time_zone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: datetime) -> str:
    """`YYYY-MM` of the month before `now` (in `now`'s time zone)."""
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class MonthlyReportRequest(BaseModel):
    month: str | None = None  # YYYY-MM; None: the month before now (report time zone)
    requested_by: str = "schedule"


class ReportRef(BaseModel):
    """A stored report (the workflow's result)."""

    report_id: int
    month: str
    title: str
    size: int


class ReportTable(BaseModel):
    caption: str
    table: str  # a key of TABLES
    rows: list[dict]


class ReportSection(BaseModel):
    title: str
    tables: list[ReportTable] = []
    charts: dict[str, bytes] = {}  # caption → PNG


def render_report(title: str, subtitle: str, sections: Sequence[ReportSection]) -> str:
    """A self-contained HTML document: charts embedded as PNG data URIs, tables as HTML."""
    import base64
    from html import escape

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_REPORT_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class='sub'>{escape(subtitle)}</p>",
    ]
    for section in sections:
        parts.append(f"<section><h2>{escape(section.title)}</h2>")
        for caption, png in section.charts.items():
            data = base64.b64encode(png).decode()
            parts.append(
                f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{escape(caption)}</figcaption></figure>"
            )
        for table in section.tables:
            parts.append(_html_table(table))
        parts.append("</section>")
    parts.append("</body></html>")
    return "".join(parts)


def _html_table(table: ReportTable) -> str:
    from html import escape

    columns = list(TABLES[table.table].model_fields)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        body = f"<tr><td colspan='{len(columns)}'>no data</td></tr>"
    return (
        f"<table><caption>{escape(table.caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


_REPORT_CSS = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "caption{font-weight:bold;text-align:left;padding:4px 0}"
    "figure{margin:1em 0}img{max-width:100%}.sub{color:#666}"
)
