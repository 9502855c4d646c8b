"""Turning OCPP meterValue lists (1.6 and 2.0.1) into sample rows and a compact live update."""

from __future__ import annotations

from domain.session import MeterUpdate
from gateway.protocol import OcppError
from gateway.recorder import SampleRow
from gateway.timestamps import parse

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise OcppError(
            "PropertyConstraintViolation", f"sampled value {value!r} is not a number"
        ) from err


def sample_rows(
    station_id: str,
    connector_id: int,
    transaction_id: str | None,
    session_id: str | None,
    meter_values: list[dict],
) -> list[SampleRow]:
    """Every sampled value as a row; 1.6 strings and 2.0.1 numbers alike."""
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
            value = _number(sampled["value"]) * (10**multiplier)
            signed = sampled.get("signedMeterValue", {}).get("signedMeterData")
            if sampled.get("format") == "SignedData":  # 1.6: the value itself is the signed blob
                signed, value = sampled["value"], 0.0
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


def live_update(rows: list[SampleRow]) -> MeterUpdate | None:
    """The newest energy register / power / SoC readings (whole-meter values, no phases)."""
    if not rows:
        return None
    latest = max(rows, key=lambda row: row.timestamp)
    update = MeterUpdate(timestamp=latest.timestamp)
    for row in sorted(rows, key=lambda row: row.timestamp):
        if row.phase or row.signed_data:
            continue
        scale = 1000.0 if row.unit in ("kWh", "kW") else 1.0
        if row.measurand == ENERGY_REGISTER:
            update.energy_wh = int(round(row.value * scale))
        elif row.measurand == POWER:
            update.power_w = row.value * scale
        elif row.measurand == SOC:
            update.soc_percent = row.value
    return update
