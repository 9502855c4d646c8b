"""Structured logs: one JSON object per line (`AMPFLOW_LOG_FORMAT=json`).

Fields: `ts`, `level`, `logger`, `msg`, and when known `station_id` and `session_id`, plus
`exc` for exceptions. The ids come from, in order:
1. `extra={"station_id": ..., "session_id": ...}` on the log call;
2. the context variables `STATION_ID` / `SESSION_ID` (`bind_station`, `bind_session`; tasks
   created afterwards inherit them);
3. Temporal's workflow/activity log context: a `session-…` workflow id is the session id;
4. gateway loggers' convention of the station id as the first `%s` argument.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

STATION_ID: ContextVar[str | None] = ContextVar("station_id", default=None)
SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)


def bind_station(station_id: str | None) -> None:
    """Tag the logs of the current task (and the tasks it creates) with a station id."""
    STATION_ID.set(station_id)


def bind_session(session_id: str | None) -> None:
    SESSION_ID.set(session_id)


def _temporal_ids(record: logging.LogRecord) -> tuple[str | None, str | None]:
    for name in ("temporal_workflow", "temporal_activity"):
        context = getattr(record, name, None)
        if isinstance(context, dict):
            workflow_id = context.get("workflow_id")
            if isinstance(workflow_id, str) and workflow_id.startswith("session-"):
                return None, workflow_id
    return None, None


def _gateway_station(record: logging.LogRecord) -> str | None:
    if not record.name.startswith("gateway") or not isinstance(record.msg, str):
        return None
    if record.msg.startswith("%s") and isinstance(record.args, tuple) and record.args:
        first = record.args[0]
        return first if isinstance(first, str) else None
    return None


def ids_of(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(station id, session id) of a record, by the rules above."""
    station = getattr(record, "station_id", None) or STATION_ID.get()
    session = getattr(record, "session_id", None) or SESSION_ID.get()
    if session is None:
        session = _temporal_ids(record)[1]
    if station is None:
        station = _gateway_station(record)
    return station, session


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        station, session = ids_of(record)
        if station:
            entry["station_id"] = station
        if session:
            entry["session_id"] = session
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str, log_format: str = "text") -> None:
    """`logging.basicConfig` with the chosen format (text, or json)."""
    if log_format.lower() != "json":
        logging.basicConfig(
            level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
