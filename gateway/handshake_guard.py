"""Throttling of failed station handshakes and of admissions of unknown stations.

Failed handshakes are counted per station id and per client address (never successful ones, so
a fleet behind one address reconnects freely). `max_failures` within `window_s` lock the key for
`lockout_s`, doubled at each repeated lockout up to `lockout_max_s` (back-off); while a key is
locked every handshake it names is answered 429 with `Retry-After`, without checking a password.
A success of a station clears its station key (not its address key).

The counters live in the gateway process (checked on every handshake, so they must cost
nothing): with several gateways an attacker gets each gateway's budget. Entries are bounded
(`max_entries`, oldest dropped first).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Key:
    failures: int = 0
    window_start: float = 0.0
    locked_until: float = 0.0
    lockouts: int = 0  # consecutive lockouts (back-off exponent)


@dataclass(frozen=True, slots=True)
class Lock:
    """A key that just got locked (raise an alert) or is locked (refuse for `wait_s`)."""

    key: str
    wait_s: float
    failures: int = 0


@dataclass
class HandshakeGuard:
    """Per-key failure counters with exponential lockouts (see the module docstring)."""

    station_max_failures: int = 5
    address_max_failures: int = 30
    window_s: float = 300.0
    lockout_s: float = 30.0
    lockout_max_s: float = 3600.0
    max_entries: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _keys: OrderedDict[str, _Key] = field(default_factory=OrderedDict)

    @staticmethod
    def station_key(station_id: str) -> str:
        return f"station:{station_id}"

    @staticmethod
    def address_key(address: str) -> str:
        return f"address:{address}"

    def locked(self, *keys: str) -> Lock | None:
        """The longest lock among `keys`, if any is locked now."""
        now = self.clock()
        waits = [
            Lock(k, self._keys[k].locked_until - now)
            for k in keys
            if k in self._keys and self._keys[k].locked_until > now
        ]
        return max(waits, key=lambda lock: lock.wait_s, default=None)

    def failed(self, station_id: str, address: str) -> list[Lock]:
        """Count one failed handshake; returns the keys this failure locked."""
        now = self.clock()
        limits = (
            (self.station_key(station_id), self.station_max_failures),
            (self.address_key(address), self.address_max_failures),
        )
        return [lock for key, limit in limits if (lock := self._count(key, limit, now))]

    def succeeded(self, station_id: str) -> None:
        """The station proved its password: forget its station key's failures."""
        self._keys.pop(self.station_key(station_id), None)

    def _count(self, key: str, limit: int, now: float) -> Lock | None:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key(window_start=now)
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        if now - state.window_start >= self.window_s:
            state.failures, state.window_start = 0, now
            if state.locked_until + self.lockout_max_s < now:
                state.lockouts = 0  # quiet for long enough: back-off starts over
        state.failures += 1
        if state.failures < limit:
            return None
        wait = min(self.lockout_s * 2**state.lockouts, self.lockout_max_s)
        failures = state.failures
        state.lockouts += 1
        state.locked_until, state.failures, state.window_start = now + wait, 0, now + wait
        return Lock(key, wait, failures)


@dataclass
class AdmissionLimiter:
    """At most `per_address` admissions of unknown stations per address and `total` in all,
    within a sliding `window_s` (this process; the store also bounds the total)."""

    per_address: int = 5
    total: int = 100
    window_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _all: deque[float] = field(default_factory=deque)
    _by_address: dict[str, deque[float]] = field(default_factory=dict)

    def refusal(self, address: str) -> str | None:
        """Why another admission from `address` is refused now (None: it may be admitted)."""
        now = self.clock()
        self._expire(self._all, now)
        mine = self._by_address.get(address)
        if mine is not None:
            self._expire(mine, now)
            if not mine:
                del self._by_address[address]
        if len(self._all) >= self.total:
            return "too many unknown stations admitted lately"
        if mine and len(mine) >= self.per_address:
            return "too many unknown stations admitted from this address lately"
        return None

    def admitted(self, address: str) -> None:
        now = self.clock()
        self._all.append(now)
        self._by_address.setdefault(address, deque()).append(now)
        if len(self._by_address) > 4 * self.total:  # bounded: forget the expired addresses
            for key, times in list(self._by_address.items()):
                self._expire(times, now)
                if not times:
                    del self._by_address[key]

    def _expire(self, times: deque[float], now: float) -> None:
        while times and now - times[0] >= self.window_s:
            times.popleft()
