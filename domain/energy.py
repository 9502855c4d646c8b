"""Energy delivered in a session, from whatever the charger sent, tolerating field reality.

Chargers send registers that reset (reboot, meter swap), samples out of order or twice, and
sometimes no register at all (only interval energy). The rule, in order of preference:

1. **Register** (`Energy.Active.Import.Register`): walk the readings in time order, starting from
   the transaction's start value; every increase counts; a drop is a counter reset, after which the
   new value counts from zero. The stop value, when given, is the last reading.
2. **Interval** (`Energy.Active.Import.Interval`): the sum of the intervals.
3. Otherwise, `stop - start` when both are known, else 0.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from pydantic import BaseModel

from domain.money import round_half_up
from domain.rating import MeterPoint

REGISTER = "Energy.Active.Import.Register"
INTERVAL = "Energy.Active.Import.Interval"


class EnergyReading(BaseModel):
    """One energy value in Wh (already converted from kWh)."""

    timestamp: datetime
    measurand: str = REGISTER
    value_wh: float


class EnergyEstimate(BaseModel):
    energy_wh: int
    source: str  # register | interval | start_stop | none
    resets: int = 0


def delivered_energy(
    readings: list[EnergyReading],
    meter_start_wh: int | None,
    meter_stop_wh: int | None,
) -> EnergyEstimate:
    """Energy delivered, in whole Wh, never negative."""
    registers = sorted({(r.timestamp, r.value_wh) for r in readings if r.measurand == REGISTER})
    if registers or (meter_start_wh is not None and meter_stop_wh is not None):
        values = [value for _, value in registers]
        baseline = float(meter_start_wh) if meter_start_wh is not None else None
        if baseline is None and values:
            baseline, values = values[0], values[1:]
        total, resets = 0.0, 0
        previous = baseline if baseline is not None else 0.0
        for value in values:
            if value >= previous:
                total += value - previous
            else:  # the counter went backwards: a reset; the new value counts from zero
                resets += 1
                total += value
            previous = value
        # The stop value closes the timeline; a stop below the last reading is not a reset
        # (samples already counted it), so it never makes a session cost more.
        if meter_stop_wh is not None and meter_stop_wh > previous:
            total += meter_stop_wh - previous
        source = "register" if registers else "start_stop"
        return EnergyEstimate(energy_wh=int(round(total)), source=source, resets=resets)
    intervals = {(r.timestamp, r.value_wh) for r in readings if r.measurand == INTERVAL}
    if intervals:
        total = sum(max(value, 0.0) for _, value in intervals)
        return EnergyEstimate(energy_wh=int(round(total)), source="interval")
    return EnergyEstimate(energy_wh=0, source="none")


def cumulative_energy(
    samples: list[tuple[datetime, str, int]],
    start: datetime,
    stop: datetime,
    meter_start_wh: int | None,
    meter_stop_wh: int | None,
) -> list[MeterPoint]:
    """Readings as session energy so far (Wh): registers with resets, else summed intervals."""
    registers = sorted({(t, v) for t, m, v in samples if m == REGISTER})
    points = [MeterPoint(timestamp=start, energy_wh=0)]
    total = 0
    if registers or (meter_start_wh is not None and meter_stop_wh is not None):
        previous = meter_start_wh
        if previous is None and registers:
            previous = registers[0][1]
        for moment, value in registers:
            total += value - previous if value >= previous else value  # a drop: a reset
            previous = value
            points.append(MeterPoint(timestamp=moment, energy_wh=total))
        if meter_stop_wh is not None and previous is not None and meter_stop_wh > previous:
            total += meter_stop_wh - previous
    else:
        for moment, value in sorted({(t, v) for t, m, v in samples if m == INTERVAL}):
            total += max(value, 0)
            points.append(MeterPoint(timestamp=moment, energy_wh=total))
    points.append(MeterPoint(timestamp=max(stop, points[-1].timestamp), energy_wh=total))
    return points


def sample_wh(value: float, unit: str | None) -> int:
    """A sampled energy value in whole Wh (kWh converted exactly, half up)."""
    exact = Fraction(str(value))
    return round_half_up(exact * 1000 if unit == "kWh" else exact)
