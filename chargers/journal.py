"""The charger's own record of what it did: JSON lines, one event per line (see README.md).

The chaos suite reads it as ground truth, so every line is written (and flushed) when the event
happens. Without a path the journal keeps its events in memory only (`keep`, bounded), which is
what a fleet of thousands wants.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Append-only event log of one charger. `events` holds the most recent `keep` events."""

    def __init__(self, station_id: str, path: Path | None = None, keep: int = 10_000) -> None:
        self.station_id = station_id
        self.path = path
        self.events: collections.deque[dict] = collections.deque(maxlen=keep)
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open for appends

    def write(self, event: str, **fields: Any) -> dict:
        """Record `event` with its fields; `t` is the wall-clock time of the record."""
        record = {"t": _stamp(), "station": self.station_id, "ev": event, **fields}
        self.events.append(record)  # a no-op when keep is 0
        if self._file is not None:
            self._file.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        return record

    def find(self, event: str, **match: Any) -> list[dict]:
        """Events of kind `event` (in memory) whose fields equal `match`."""
        return [
            e
            for e in self.events
            if e["ev"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read(path: Path) -> list[dict]:
    """Every event of a journal file (a torn last line is skipped)."""
    events = []
    for line in path.read_bytes().splitlines():
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return events
