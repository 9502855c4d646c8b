"""An EV's charging schedule against the profiles we set on its EVSE (K15-K17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.ev_schedules import OfferedProfile, ev_schedule_excess, offered_limit_w

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def offered(
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    evse: int = 1,
    stack: int = 1,
    tx: str | None = "tx-1",
    start: datetime | None = T0,
    kind: str = "Absolute",
    unit: str = "A",
    set_at: datetime = T0,
) -> OfferedProfile:
    schedule: dict = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": s, "limit": limit, "numberPhases": 3} for s, limit in periods
        ],
    }
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = start.isoformat().replace("+00:00", "Z")
    profile = {
        "id": 7,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
    }
    return OfferedProfile(
        evse_id=evse,
        purpose=purpose,
        stack_level=stack,
        transaction_id=tx if purpose == "TxProfile" else None,
        profile=profile,
        set_at=set_at,
    )


def ev(periods: list[tuple[int, float]], unit: str = "A", duration: int | None = None) -> dict:
    schedule: dict = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
    }
    if duration is not None:
        schedule["duration"] = duration
    return schedule


def w(amps: float) -> float:
    return amps * 230 * 3


def test_the_schedule_we_sent_echoed_back_is_within():
    ours = [offered("TxProfile", [(0, 16.0), (600, 6.0)])]
    assert ev_schedule_excess(ev([(0, 16.0), (600, 6.0)]), T0, ours, 1) is None


def test_more_than_offered_is_an_excess_with_its_reason():
    ours = [offered("TxProfile", [(0, 16.0)])]
    reason = ev_schedule_excess(ev([(0, 32.0)]), T0, ours, 1)
    assert reason is not None and "32 A" in reason


def test_a_later_step_down_of_ours_counts_even_inside_an_ev_period():
    """The EV keeps 16 A for an hour; we allow 16 A for ten minutes, then 6 A."""
    ours = [offered("TxProfile", [(0, 16.0), (600, 6.0)])]
    assert ev_schedule_excess(ev([(0, 16.0)], duration=3600), T0, ours, 1) is not None
    assert ev_schedule_excess(ev([(0, 16.0)], duration=600), T0, ours, 1) is None


def test_watts_and_amperes_compare_as_power():
    ours = [offered("TxProfile", [(0, 16.0)])]
    assert ev_schedule_excess(ev([(0, w(16))], unit="W"), T0, ours, 1) is None
    assert ev_schedule_excess(ev([(0, w(17))], unit="W"), T0, ours, 1) is not None


def test_nothing_offered_is_nothing_to_exceed():
    assert ev_schedule_excess(ev([(0, 63.0)]), T0, [], 1) is None


def test_the_highest_stack_level_of_the_tx_profiles_counts():
    """An operator's TxProfile at stack 0 (10 A) under the site's at stack 1 (16 A)."""
    ours = [
        offered("TxProfile", [(0, 10.0)], stack=0, kind="Relative"),
        offered("TxProfile", [(0, 16.0)], stack=1),
    ]
    assert offered_limit_w(ours, 1, T0 + timedelta(seconds=5)) == w(16)
    assert ev_schedule_excess(ev([(0, 10.0)]), T0, ours, 1) is None


def test_a_tx_profile_comes_before_defaults_and_a_station_maximum_caps_all():
    ours = [
        offered("TxDefaultProfile", [(0, 0.0)], evse=0),
        offered("TxDefaultProfile", [(0, 8.0)]),
        offered("TxProfile", [(0, 20.0)]),
        offered("ChargingStationMaxProfile", [(0, 18.0)], evse=0, stack=0),
    ]
    assert offered_limit_w(ours, 1, T0) == w(18)
    assert offered_limit_w(ours[:2], 1, T0) == w(8)  # the EVSE's default before the station's
    assert offered_limit_w(ours[:1], 1, T0) == 0.0


def test_only_the_newest_transaction_s_tx_profiles_count():
    old = offered("TxProfile", [(0, 6.0)], tx="tx-0", set_at=T0 - timedelta(hours=2))
    new = offered("TxProfile", [(0, 16.0)], tx="tx-1")
    assert offered_limit_w([old, new], 1, T0) == w(16)


def test_another_evse_s_profiles_do_not_count():
    ours = [offered("TxProfile", [(0, 6.0)], evse=2)]
    assert offered_limit_w(ours, 1, T0) is None
