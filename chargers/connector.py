"""A connector (1.6) / EVSE with one connector (2.0.1): status, meter, transaction, reservation.

The meter integrates the delivered power over (simulated) time: energy only grows while a
transaction is charging, at the lowest of the EV's acceptance and the composite limit, and is
integrated piecewise across every moment the limit may change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# 1.6 statuses; 2.0.1 reports Available / Occupied / Reserved / Unavailable / Faulted.
OCCUPIED = {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"}


def status_201(status: str) -> str:
    return "Occupied" if status in OCCUPIED else status


@dataclass
class Transaction:
    """One transaction as the charger knows it (1.6: the CSMS numbers it; 2.0.1: the charger)."""

    connector: int
    id_tag: str | None
    meter_start_wh: int
    started_at: datetime
    token_type: str = "ISO14443"
    local_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    transaction_id: str | int | None = None  # 1.6: from the CSMS's answer; 2.0.1: local_id
    remote_start_id: int | None = None
    seq_no: int = 0
    authorized: bool = True
    started_offline: bool = False
    meter_stop_wh: int | None = None
    stopped_at: datetime | None = None
    reason: str | None = None
    total_cost: float | None = None
    last_wh: int = 0  # the register at the previous sample (for Interval energy)

    def next_seq(self) -> int:
        seq, self.seq_no = self.seq_no, self.seq_no + 1
        return seq


class Meter:
    """An energy register (Wh, float inside, integer outside) fed by a power function."""

    def __init__(self, register_wh: float, at: datetime) -> None:
        self.register_wh = register_wh
        self.power_w = 0.0
        self._at = at
        self._power: Callable[[datetime], float] | None = None
        self._changes: Callable[[datetime, datetime], list[datetime]] | None = None

    def advance(self, now: datetime) -> float:
        """Integrate up to `now`; returns the register (Wh)."""
        if now <= self._at:
            return self.register_wh
        if self._power is None:
            self.power_w = 0.0
        else:
            edges = [self._at, *(self._changes(self._at, now) if self._changes else []), now]
            for t0, t1 in zip(edges, edges[1:], strict=False):
                self.power_w = self._power(t0)
                self.register_wh += self.power_w * (t1 - t0).total_seconds() / 3600
            self.power_w = self._power(now)
        self._at = now
        return self.register_wh

    def feed(self, now: datetime, power, changes=None) -> None:
        """From `now` on, power comes from `power(t)` (None: no power)."""
        self.advance(now)
        self._power, self._changes = power, changes
        self.power_w = power(now) if power else 0.0

    def reset(self, now: datetime) -> None:
        """The counter resets to zero (a field fault)."""
        self.advance(now)
        self.register_wh = 0.0

    @property
    def wh(self) -> int:
        return int(self.register_wh)


@dataclass
class Connector:
    id: int
    meter: Meter
    status: str = "Available"
    inoperative: bool = False
    plugged: bool = False
    ev_max_w: float = 11_000.0
    transaction: Transaction | None = None
    reservation: dict | None = None  # {"id", "expiry", "id_tag"}
    waiting: dict | None = None  # a remote start waiting for the EV to be plugged in
    fault: dict | None = None  # {"error_code", "clears_on"} while Faulted
    meter_task: object | None = None

    @property
    def idle(self) -> bool:
        return self.transaction is None
