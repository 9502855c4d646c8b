"""The charger model's pure parts: composite limits, the meter, the journal, the schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargers import schemas
from chargers.connector import Meter
from chargers.journal import Journal, read
from chargers.maintenance import firmware_version
from chargers.smart import Profile, ProfileStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def profile(
    pid, purpose, stack, periods, *, connector=1, kind="Absolute", unit="W", daily=False, **extra
):
    raw = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "startSchedule": "2026-01-01T12:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
            **extra,
        },
    }
    if daily:
        raw["recurrencyKind"] = "Daily"
    return Profile.parse(connector, raw, T0)


def test_composite_limit_takes_the_lowest_of_hardware_station_and_transaction():
    store = ProfileStore(22_000, 230, 3)
    store.install(profile(1, "ChargePointMaxProfile", 0, [(0, 16_000)], connector=0))
    store.install(profile(2, "TxDefaultProfile", 0, [(0, 11_000), (600, 20_000)], connector=0))
    assert store.limit_w(1, T0, "7", T0) == 11_000
    assert store.limit_w(1, T0 + timedelta(minutes=15), "7", T0) == 16_000
    store.install(profile(3, "TxProfile", 1, [(0, 5_000)], kind="Relative"))
    assert store.limit_w(1, T0 + timedelta(minutes=15), "7", T0) == 5_000
    store.drop_transaction("7")
    assert store.limit_w(1, T0 + timedelta(minutes=15), "8", T0) == 16_000


def test_higher_stack_level_wins_and_amperes_become_watts():
    store = ProfileStore(50_000, 230, 3)
    store.install(profile(1, "TxDefaultProfile", 0, [(0, 10_000)]))
    store.install(profile(2, "TxDefaultProfile", 1, [(0, 16)], unit="A", duration=600))
    assert store.limit_w(1, T0, None, None) == 16 * 230 * 3
    assert store.limit_w(1, T0 + timedelta(minutes=11), None, None) == 10_000  # duration over
    assert store.clear(stack_level=1) and not store.clear(profile_id=99)
    assert store.limit_w(1, T0, None, None) == 10_000


def test_composite_schedule_and_the_meter_follow_the_limit():
    store = ProfileStore(22_000, 230, 3)
    store.install(profile(1, "TxDefaultProfile", 0, [(0, 11_000), (1800, 0), (3600, 22_000)]))
    periods = store.composite(1, T0, 7200, "W", None, None)
    assert periods == [
        {"startPeriod": 0, "limit": 11_000.0},
        {"startPeriod": 1800, "limit": 0.0},
        {"startPeriod": 3600, "limit": 22_000.0},
    ]
    meter = Meter(1000.0, T0)
    meter.feed(
        T0, lambda t: store.limit_w(1, t, None, None), lambda a, b: store.changes(a, b, None)
    )
    # 30 min at 11 kW, 30 min at 0, 30 min at 22 kW = 5.5 + 0 + 11 kWh
    assert meter.advance(T0 + timedelta(minutes=90)) == pytest.approx(1000 + 5500 + 11_000)
    meter.reset(T0 + timedelta(minutes=90))
    assert meter.wh == 0


def test_recurring_daily_profile_repeats():
    store = ProfileStore(22_000, 230, 3)
    periods = [(0, 3_000), (3600, 22_000)]
    store.install(profile(1, "TxDefaultProfile", 0, periods, kind="Recurring", daily=True))
    assert store.limit_w(1, T0 + timedelta(days=3, minutes=30), None, None) == 3_000
    assert store.limit_w(1, T0 + timedelta(days=3, hours=2), None, None) == 22_000


def test_journal_lines_are_json_and_survive_a_torn_tail(tmp_path):
    path = tmp_path / "vc.jsonl"
    journal = Journal("VC-1", path)
    journal.write("tx_start", transactionId=1, meterStart=0)
    journal.write("tx_stop", transactionId=1, meterStop=42)
    journal.close()
    with path.open("ab") as f:
        f.write(b'{"t": "2026')  # killed mid-write
    events = read(path)
    assert [e["ev"] for e in events] == ["tx_start", "tx_stop"]
    assert events[1]["meterStop"] == 42 and events[0]["station"] == "VC-1"


def test_firmware_version_comes_from_the_image():
    assert firmware_version(b"AMPFLOW-FIRMWARE 2.3.1\nbinary", "http://x/fw.bin") == "2.3.1"
    assert firmware_version(b"\x7fELF", "http://x/files/t/fw-4.0.2.bin") == "4.0.2"
    assert firmware_version(b"\x7fELF", "http://x/fw.bin").startswith("sha-")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_schema_errors_carry_the_versions_error_codes(version):
    action = "Reset"
    with pytest.raises(schemas.SchemaError) as missing:
        schemas.validate(version, action, {})
    expected = (
        "OccurenceConstraintViolation" if version == "1.6" else "OccurrenceConstraintViolation"
    )
    assert missing.value.code == expected
    with pytest.raises(schemas.SchemaError) as extra:
        schemas.validate(version, "Heartbeat", {"x": 1})
    assert extra.value.code == ("FormationViolation" if version == "1.6" else "FormatViolation")


async def test_a_faster_clock_only_on_request():
    from chargers.clock import Clock

    real, fast = Clock(), Clock(speed=3600)
    start_real, start_fast = real.now(), fast.now()
    await fast.sleep(3600)  # an hour of simulated time
    assert (fast.now() - start_fast).total_seconds() >= 3600
    assert (real.now() - start_real).total_seconds() < 3600
    skewed = Clock(skew_s=-600)
    assert (Clock().now() - skewed.now()).total_seconds() > 500
