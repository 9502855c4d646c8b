"""Field lessons of other CSMSs, end to end with virtual chargers of both versions: a TxProfile
the charger refuses (it did not know the transaction yet) is replaced by a connector
TxDefaultProfile, cleared when the session ends; a schedule longer than the charger's
ChargingScheduleMaxPeriods / PeriodsPerSchedule is cut (never above the limit), not refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import eventually
from tests.smart_charging.site import (
    PHASES,
    VOLTS,
    has_station_default,
    managed_site,
    power_now,
    start_charger,
)
from tests.smart_charging.test_site_load import open_alerts

REBALANCE_S = 1.0


def near(charger, amps: float) -> bool:
    return abs(power_now(charger) - amps * VOLTS * PHASES) < 50


def installed(charger, connector: int, purpose: str) -> list[dict]:
    return [
        e["profile"]
        for e in charger.journal.find("profile_set")
        if e["connector"] == connector and e["profile"]["chargingProfilePurpose"] == purpose
    ]


def limits(profile: dict) -> list[float]:
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    return [p["limit"] for p in schedule["chargingSchedulePeriod"]]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_refused_tx_profile_is_replaced_by_a_connector_default(
    version, settings, seeded, worker, gateway, api, make_charger, db
):
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"txdefault-{version}-{settings.task_queue}"
    await managed_site(api, site, ["TD-1", "TD-2"], limit_a=20)
    good = await start_charger(make_charger, "TD-1", version)
    picky = await start_charger(make_charger, "TD-2", version, reject_tx_profiles=True)
    for charger in (good, picky):
        await eventually(lambda c=charger: has_station_default(c) or None, timeout=30)
        await charger.sessions.start_local("DEMO-TAG", 1)
    await eventually(lambda: near(good, 10) and near(picky, 10), timeout=30)
    assert installed(picky, 1, "TxDefaultProfile")[-1:] and not installed(picky, 1, "TxProfile")
    assert limits(installed(picky, 1, "TxDefaultProfile")[-1]) == [10.0]
    refused = [
        a
        for a in picky.journal.find("answer", action="SetChargingProfile")
        if a["payload"]["status"] == "Rejected"
    ]
    assert refused  # it was offered the TxProfile first
    assert not open_alerts(db, "profile_rejected")  # it follows the default: steerable
    view = (await api.get(f"/sites/{site}/load")).json()
    given = {c["station_id"]: c for c in view["connectors"]}
    assert given["TD-2"]["profile"] == "accepted" and given["TD-2"]["controllable"]
    # the session ends: our connector default goes, the good charger gets the whole share
    await picky.sessions.unplug(1)
    await eventually(lambda: near(good, 16), timeout=30)
    await eventually(
        lambda: (
            not any(p.connector == 1 and p.purpose == "default" for p in picky.profiles.profiles)
        ),
        timeout=30,
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_schedule_is_cut_to_the_charger_s_periods(
    version, settings, seeded, worker, gateway, api, make_charger, db
):
    """32 A now, 12 A in an hour: a charger taking one period gets the lower limit now (the
    cut schedule never allows more), one taking 24 gets them all (and 32 A again tomorrow)."""
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"periods-{version}-{settings.task_queue}"
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = [
        {"start": (now - timedelta(minutes=1)).time().isoformat(), "limit_a": 32},
        {"start": (now + timedelta(hours=1)).time().isoformat(), "limit_a": 12},
    ]
    await managed_site(api, site, ["MP-1", "MP-2"], limit_a=32, schedule=schedule)
    key = "SmartChargingCtrlr/PeriodsPerSchedule" if version == "2.0.1" else None
    key = key or "ChargingScheduleMaxPeriods"
    short = await make_charger(
        "MP-1",
        version=version,
        configuration={key: "1", **_meter(version)},
    )
    long = await start_charger(make_charger, "MP-2", version)
    for charger in (short, long):
        await eventually(lambda c=charger: has_station_default(c) or None, timeout=30)
        await charger.sessions.start_local("DEMO-TAG", 1)
    await eventually(lambda: near(short, 6) and near(long, 16), timeout=30)
    assert [limits(p) for p in installed(short, 1, "TxProfile")][-1] == [6.0]
    assert [limits(p) for p in installed(long, 1, "TxProfile")][-1] == [16.0, 6.0, 16.0]
    assert not open_alerts(db, "profile_rejected")


def _meter(version: str) -> dict[str, str]:
    from tests.smart_charging.site import meter_config

    return meter_config(version)
