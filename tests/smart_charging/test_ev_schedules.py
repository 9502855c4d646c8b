"""ISO 15118 smart charging on 2.0.1 (K15-K17, OCTT TC_K_53/55/57/58/59 in our words): the EV's
needs are answered Accepted at a managed site and a TxProfile follows; the EV's own schedule
(NotifyEVChargingSchedule) is Accepted when it stays within what we offered, Rejected with the
reason when it asks for more, and then the site sends its profile again (renegotiation); a
lower site limit renegotiates from our side. Virtual 2.0.1 chargers that follow their profiles;
the frames they exchanged are read from their journals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from chargers import Charger
from tests.helpers import eventually
from tests.records import sessions
from tests.smart_charging.site import has_station_default, managed_site, start_charger

REBALANCE_S = 1.0


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def tx_profiles(charger: Charger) -> list[dict]:
    """The TxProfiles the charger installed on EVSE 1, in order."""
    return [
        e["profile"]
        for e in charger.journal.find("profile_set")
        if e["connector"] == 1 and e["profile"]["chargingProfilePurpose"] == "TxProfile"
    ]


async def next_tx_profile(charger: Charger, seen: int) -> dict:
    """The first TxProfile after the `seen` first ones."""
    found = await eventually(lambda: tx_profiles(charger)[seen:] or None, timeout=30)
    return found[0]


def schedule_of(profile: dict, factor: float = 1.0) -> dict:
    """The profile's schedule as an EV sends it back (its limits × `factor`)."""
    schedule = dict(profile["chargingSchedule"][0])
    schedule["chargingSchedulePeriod"] = [
        {**period, "limit": round(period["limit"] * factor, 1)}
        for period in schedule["chargingSchedulePeriod"]
    ]
    return schedule


async def ev_schedule(charger: Charger, schedule: dict) -> dict:
    answer = await charger.send(
        "NotifyEVChargingSchedule",
        {"timeBase": iso_now(), "chargingSchedule": schedule, "evseId": 1},
    )
    assert answer is not None
    return answer


async def ev_needs(charger: Charger, max_a: float = 32) -> dict:
    needs = {
        "evseId": 1,
        "maxScheduleTuples": 10,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "acChargingParameters": {
                "energyAmount": 50000,
                "evMinCurrent": 6,
                "evMaxCurrent": max_a,
                "evMaxVoltage": 400,
            },
        },
    }
    answer = await charger.send("NotifyEVChargingNeeds", needs)
    assert answer is not None
    return answer


async def charging_at_site(settings, api, make_charger, name: str, limit_a: float) -> Charger:
    """One 2.0.1 charger (16 A) at a managed site, its EV charging under our TxProfile."""
    settings.site_load_rebalance_s = REBALANCE_S
    site = f"{name}-{settings.task_queue}"
    await managed_site(api, site, ["ISO-1"], limit_a=limit_a)
    charger = await start_charger(make_charger, "ISO-1", "2.0.1")
    await eventually(lambda: has_station_default(charger) or None, timeout=30)
    await charger.sessions.start_local("DEMO-TAG", 1)
    await next_tx_profile(charger, 0)
    return charger


def stored_schedules(db) -> list[tuple[str, str | None]]:
    from sqlalchemy import text

    with db.session() as session:
        rows = session.exec(  # type: ignore[call-overload]
            text(
                "SELECT detail->>'status', detail->>'reason' FROM station_events "
                "WHERE kind = 'EVChargingSchedule' ORDER BY id"
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


async def test_TC_K_53_the_ev_schedule_within_our_profile_is_accepted_and_stored(
    settings, seeded, worker, gateway, api, make_charger, db
):
    charger = await charging_at_site(settings, api, make_charger, "k53", limit_a=32)
    seen = len(tx_profiles(charger))
    assert (await ev_needs(charger))["status"] == "Accepted"
    profile = await next_tx_profile(charger, seen)  # K15: a TxProfile follows the needs
    tx = charger.connectors[1].transaction
    assert tx is not None and profile["transactionId"] == tx.transaction_id
    assert (await ev_schedule(charger, schedule_of(profile)))["status"] == "Accepted"
    assert stored_schedules(db) == [("Accepted", None)]
    # no renegotiation without a cause: nothing more within a few rebalance intervals
    count = len(tx_profiles(charger))
    await asyncio.sleep(REBALANCE_S * 3)
    assert len(tx_profiles(charger)) == count


async def test_TC_K_55_an_ev_schedule_above_our_profile_is_rejected_and_renegotiated(
    settings, seeded, worker, gateway, api, make_charger, db
):
    charger = await charging_at_site(settings, api, make_charger, "k55", limit_a=32)
    seen = len(tx_profiles(charger))
    assert (await ev_needs(charger))["status"] == "Accepted"
    profile = await next_tx_profile(charger, seen)
    seen = len(tx_profiles(charger))
    answer = await ev_schedule(charger, schedule_of(profile, factor=2))
    assert answer["status"] == "Rejected"
    assert answer["statusInfo"]["reasonCode"] == "ExceedsLimit"
    # K15.FR.13: we start a renegotiation (K16): the profile again, which the EV then follows
    again = await next_tx_profile(charger, seen)
    assert again["transactionId"] == profile["transactionId"]
    assert (await ev_schedule(charger, schedule_of(again)))["status"] == "Accepted"
    statuses = [status for status, _ in stored_schedules(db)]
    assert statuses == ["Rejected", "Accepted"]


async def test_TC_K_57_and_59_new_ev_needs_get_a_new_profile(
    settings, seeded, worker, gateway, api, make_charger
):
    charger = await charging_at_site(settings, api, make_charger, "k57", limit_a=32)
    for max_a, share in ((32, 16.0), (10, 10.0)):  # the EV renegotiates (K17), e.g. lower
        seen = len(tx_profiles(charger))
        assert (await ev_needs(charger, max_a))["status"] == "Accepted"
        await next_tx_profile(charger, seen)  # a profile follows the needs
        profile = await eventually(lambda s=share: newest_with(charger, s), timeout=30)
        assert (await ev_schedule(charger, schedule_of(profile)))["status"] == "Accepted"


def newest_with(charger: Charger, amps: float) -> dict | None:
    """The newest TxProfile if it allows `amps` now (the EV's share after its needs)."""
    newest = tx_profiles(charger)[-1]
    limit = newest["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
    return newest if limit == amps else None


async def test_TC_K_58_a_lower_site_limit_renegotiates_and_the_old_schedule_is_rejected(
    settings, seeded, worker, gateway, api, make_charger
):
    charger = await charging_at_site(settings, api, make_charger, "k58", limit_a=32)
    first = tx_profiles(charger)[-1]
    seen = len(tx_profiles(charger))
    site = f"k58-{settings.task_queue}"
    reply = await api.put(f"/sites/{site}/load-limit", json={"limit_a": 10})
    assert reply.status_code == 200, reply.text
    lower = await next_tx_profile(charger, seen)  # K16: initiated by us
    assert lower["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10.0
    assert (await ev_schedule(charger, schedule_of(lower)))["status"] == "Accepted"
    assert (await ev_schedule(charger, schedule_of(first)))["status"] == "Rejected"


async def test_an_operator_s_profile_counts_at_a_station_without_load_management(
    seeded, worker, gateway, api, make_charger
):
    """No site manages DEMO-1: nothing offered is nothing to exceed; after an operator's
    TxDefaultProfile of 8 A, an EV asking 16 A is Rejected (no renegotiation: no site)."""
    charger = await start_charger(make_charger, "DEMO-1", "2.0.1")
    schedule = {
        "id": 1,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
    }
    assert (await ev_schedule(charger, schedule))["status"] == "Accepted"
    profile = {
        "id": 5,
        "stack_level": 0,
        "purpose": "default",
        "kind": "Absolute",
        "start": iso_now(),
        "unit": "A",
        "periods": [{"start_s": 0, "limit": 8.0, "phases": 3}],
    }
    reply = await api.post(
        "/stations/DEMO-1/commands",
        json={"name": "set_charging_profile", "params": {"connector_id": 1, "profile": profile}},
    )
    assert reply.status_code == 200 and reply.json()["status"] == "Accepted", reply.text
    assert (await ev_schedule(charger, schedule))["status"] == "Rejected"
    reply = await api.post(
        "/stations/DEMO-1/commands",
        json={"name": "clear_charging_profile", "params": {"id": 5}},
    )
    assert reply.status_code == 200 and reply.json()["status"] == "Accepted", reply.text
    assert (await ev_schedule(charger, schedule))["status"] == "Accepted"


async def test_at_a_station_without_load_management_the_ev_gets_what_it_can_take(
    seeded, worker, gateway, api, make_charger, db
):
    """No site manages DEMO-1, yet the CSMS can offer a schedule: the EV's needs are Accepted
    and a TxProfile for its transaction follows, at the EV's maximum (K15.FR.03); an EV
    schedule above it is Rejected and the profile sent again (K15.FR.13), and nothing more
    follows once the EV keeps within it (OCTT TC_K_53/55 at an unmanaged station)."""
    charger = await start_charger(make_charger, "DEMO-1", "2.0.1")
    no_transaction = await ev_needs(charger, max_a=20)
    assert no_transaction["status"] == "Rejected"
    assert no_transaction["statusInfo"]["reasonCode"] == "NoTransaction"
    await charger.sessions.start_local("DEMO-TAG", 1)
    tx = await eventually(lambda: charger.connectors[1].transaction, timeout=30)
    await eventually(lambda: [s for s in sessions(db) if s.stopped_at is None] or None, timeout=30)
    assert (await ev_needs(charger, max_a=20))["status"] == "Accepted"
    profile = await next_tx_profile(charger, 0)
    assert profile["transactionId"] == tx.transaction_id
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 20.0
    answer = await ev_schedule(charger, schedule_of(profile, factor=2))
    assert answer["status"] == "Rejected"
    again = await next_tx_profile(charger, 1)
    assert again == profile
    assert (await ev_schedule(charger, schedule_of(again)))["status"] == "Accepted"
    await asyncio.sleep(2)
    assert len(tx_profiles(charger)) == 2
    assert [status for status, _ in stored_schedules(db)] == ["Rejected", "Accepted"]
