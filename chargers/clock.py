"""The charger's clock: the wall clock by default; skewed or faster only on request."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """`now()` is wall-clock time plus `skew_s`; with `speed` > 1 simulated time runs faster
    (one real second is `speed` simulated seconds) and `sleep` waits simulated seconds."""

    def __init__(self, speed: float = 1.0, skew_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.skew_s = skew_s
        self._origin = datetime.now(UTC)
        self._origin_mono = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin_mono) * self.speed
        return self._origin + timedelta(seconds=elapsed + self.skew_s)

    def true_now(self) -> datetime:
        """Now without the skew (what the meter integrates over)."""
        return self.now() - timedelta(seconds=self.skew_s)

    async def sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(max(simulated_s, 0.0) / self.speed)

    def real_seconds(self, simulated_s: float) -> float:
        return simulated_s / self.speed


def iso(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-01-01T12:00:00.000Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
