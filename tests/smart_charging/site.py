"""Helpers of the smart charging tests: a managed site of virtual chargers, and the site's power
as the chargers' own journals report it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from chargers import Behaviour, Charger
from chargers.clock import parse_iso
from tests.conftest import DEMO_PASSWORD
from tests.virtual_chargers.fixtures import register

VOLTS, PHASES = 230.0, 3
METER_INTERVAL_S = 1


def meter_config(version: str) -> dict[str, str]:
    key = "SampledDataCtrlr/TxUpdatedInterval" if version == "2.0.1" else "MeterValueSampleInterval"
    return {key: str(METER_INTERVAL_S)}


async def managed_site(api: httpx.AsyncClient, site: str, stations: list[str], **limit) -> None:
    """A location with these stations (one 16 A three-phase connector each) and a load limit."""
    response = await api.post("/locations", json={"id": site, "name": site})
    assert response.status_code == 201, response.text
    for station in stations:
        await register(api, station, DEMO_PASSWORD)
        response = await api.put(f"/stations/{station}/location", json={"location_id": site})
        assert response.status_code == 200, response.text
        spec = {
            "standard": "IEC_62196_T2",
            "format": "SOCKET",
            "power_type": "AC_3_PHASE",
            "max_voltage": 230,
            "max_amperage": 16,
        }
        response = await api.put(f"/stations/{station}/connectors/1/spec", json=spec)
        assert response.status_code == 200, response.text
    response = await api.put(f"/sites/{site}/load-limit", json=limit)
    assert response.status_code == 200, response.text


async def start_charger(
    make_charger, station: str, version: str, config: dict | None = None, **behaviour
) -> Charger:
    """A charger reporting every second; `config` more `ChargerConfig` fields."""
    return await make_charger(
        station,
        version=version,
        configuration=meter_config(version),
        **(config or {}),
        behaviour=Behaviour(reconnect_min_s=0.2, reconnect_max_s=1, **behaviour),
    )


def has_station_default(charger: Charger) -> bool:
    """Our 0 A station default is installed (an EV that starts waits for its share)."""
    return any(p.connector == 0 and p.purpose == "default" for p in charger.profiles.profiles)


def power_now(charger: Charger) -> float:
    return sum(c.meter.power_w for c in charger.connectors.values())


@dataclass
class Reading:
    at: datetime
    station: str
    connector: int
    power_w: float


def readings(charger: Charger) -> list[Reading]:
    """Every power reading the charger sent (MeterValues / TransactionEvent), and 0 W at the
    end of each transaction, from its journal."""
    out: list[Reading] = []
    for entry in charger.journal.find("call"):
        action, payload = entry["action"], entry["payload"]
        if action == "MeterValues":
            connector = payload["connectorId"]
        elif action == "TransactionEvent":
            connector = (payload.get("evse") or {}).get("id", 1)
        elif action == "StopTransaction":
            out.append(Reading(parse_iso(payload["timestamp"]), charger.station_id, 1, 0.0))
            continue
        else:
            continue
        for value in payload.get("meterValue", []):
            for sample in value["sampledValue"]:
                if sample.get("measurand") == "Power.Active.Import":
                    at = parse_iso(value["timestamp"])
                    out.append(Reading(at, charger.station_id, connector, float(sample["value"])))
        if action == "TransactionEvent" and payload["eventType"] == "Ended":
            out.append(Reading(parse_iso(payload["timestamp"]), charger.station_id, connector, 0))
    return out


def over_limit_spans(chargers: list[Charger], limit_w: float) -> list[tuple[datetime, float]]:
    """(start, seconds) of every span in which the site's reported power exceeded `limit_w`."""
    events = sorted((r for c in chargers for r in readings(c)), key=lambda r: r.at)
    latest: dict[tuple[str, int], float] = {}
    spans: list[tuple[datetime, float]] = []
    since: datetime | None = None
    for reading in events:
        latest[(reading.station, reading.connector)] = reading.power_w
        total = sum(latest.values())
        if total > limit_w + 1 and since is None:
            since = reading.at
        elif total <= limit_w + 1 and since is not None:
            spans.append((since, (reading.at - since).total_seconds()))
            since = None
    if since is not None:
        spans.append((since, float("inf")))
    return spans


def site_power_after(chargers: list[Charger], moment: datetime) -> list[tuple[datetime, float]]:
    """(time, site power) at every reading from `moment` on (latest reading per connector)."""
    events = sorted((r for c in chargers for r in readings(c)), key=lambda r: r.at)
    latest: dict[tuple[str, int], float] = {}
    out = []
    for reading in events:
        latest[(reading.station, reading.connector)] = reading.power_w
        if reading.at >= moment:
            out.append((reading.at, sum(latest.values())))
    return out


def ended_at(charger: Charger) -> datetime:
    """When the charger's last transaction ended (its StopTransaction / Ended timestamp)."""
    ends = [r.at for r in readings(charger) if r.power_w == 0]
    assert ends, f"{charger.station_id} ended no transaction"
    return ends[-1]


def first_reading_from(charger: Charger, watts: float, after: datetime) -> datetime | None:
    """When the charger first reported at least `watts` after `after` (None: never)."""
    for reading in readings(charger):
        if reading.at >= after and reading.power_w >= watts:
            return reading.at
    return None
