"""Turning OCPP meterValue lists (1.6 and 2.0.1) into sample rows and a compact live update."""

from __future__ import annotations

import math

from domain.session import MeterUpdate
from gateway.protocol import OcppError
from gateway.recorder import SampleRow
from gateway.timestamps import parse
from gateway.value_limits import MAX_EXACT

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


def _number(value: object, multiplier: int = 0) -> float:
    """A sampled value as a finite number we can store (1.6 sends strings: "NaN" is no reading)."""
    if not -12 <= multiplier <= 12:
        raise OcppError("PropertyConstraintViolation", f"multiplier {multiplier} is out of range")
    try:
        number = float(value) * (10**multiplier)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as err:
        raise OcppError(
            "PropertyConstraintViolation", f"sampled value {value!r} is not a number"
        ) from err
    if not math.isfinite(number) or abs(number) > MAX_EXACT:
        raise OcppError("PropertyConstraintViolation", f"sampled value {value!r} is out of range")
    return number


def sample_rows(
    station_id: str,
    connector_id: int,
    transaction_id: str | None,
    session_id: str | None,
    meter_values: list[dict],
) -> list[SampleRow]:
    """Every sampled value as a row; 1.6 strings and 2.0.1 numbers alike.

    2.0.1: `unitOfMeasure.multiplier` is applied to the value (so the row's unit is the base
    unit); without `unitOfMeasure` the unit is Wh for energy (the spec's default).
    """
    rows: list[SampleRow] = []
    for meter_value in meter_values:
        at = parse(meter_value["timestamp"])
        for sampled in meter_value.get("sampledValue", []):
            unit = sampled.get("unit")
            if "unitOfMeasure" in sampled:  # 2.0.1
                measure = sampled["unitOfMeasure"]
                unit = measure.get("unit", "Wh")
                multiplier = measure.get("multiplier", 0)
            else:
                multiplier = 0
            if sampled.get("format") == "SignedData":  # 1.6: the value itself is the signed blob
                signed, value = sampled["value"], 0.0
            else:
                signed = sampled.get("signedMeterValue", {}).get("signedMeterData")
                value = _number(sampled["value"], multiplier)
            rows.append(
                SampleRow(
                    session_id=session_id,
                    station_id=station_id,
                    connector_id=connector_id,
                    transaction_id=transaction_id or "",
                    timestamp=at,
                    measurand=sampled.get("measurand", ENERGY_REGISTER),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context"),
                    unit=unit,
                    value=value,
                    signed_data=signed,
                )
            )
    return rows


def _has_plain_value(row: SampleRow) -> bool:
    """False for a 1.6 SignedData sample (its value is the blob, stored as 0).

    A 2.0.1 signed sample carries its number in `value` next to `signedMeterValue`, so it counts.
    """
    return not (row.signed_data and row.value == 0.0)


def live_update(rows: list[SampleRow]) -> MeterUpdate | None:
    """The newest energy register / power / SoC readings (whole-meter values, no phases)."""
    if not rows:
        return None
    newest = rows[0].timestamp
    for row in rows:
        if row.timestamp < newest:  # out of order: sort (stable, so the later sample wins)
            rows = sorted(rows, key=lambda row: row.timestamp)
            break
        newest = row.timestamp
    energy_wh: int | None = None
    power_w = soc_percent = None
    for row in rows:
        if row.phase or not _has_plain_value(row):
            continue
        scale = 1000.0 if row.unit in ("kWh", "kW") else 1.0
        if row.measurand == ENERGY_REGISTER:
            energy_wh = int(round(row.value * scale))
        elif row.measurand == POWER:
            power_w = row.value * scale
        elif row.measurand == SOC:
            soc_percent = row.value
    return MeterUpdate(
        timestamp=rows[-1].timestamp, energy_wh=energy_wh, power_w=power_w, soc_percent=soc_percent
    )


def energy_register_wh(rows: list[SampleRow]) -> int | None:
    """The last whole-meter Energy.Active.Import.Register reading in Wh, if any was sampled."""
    update = live_update(rows)
    return update.energy_wh if update is not None else None
