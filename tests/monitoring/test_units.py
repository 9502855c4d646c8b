"""Pure parts: the fault vocabulary, signatures, power derivation, batch planning."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson

from domain.alerts import (
    FAULTS_16,
    AlertRaise,
    fault_of,
    signature,
    signature_valid,
    webhook_body,
)
from domain.analytics import month_period, previous_month
from gateway import events
from gateway.live_listener import (
    LiveListener,
    PendingEvents,
    _alert_steps,
    derived_power,
    notification_chunks,
    plan,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_every_16_error_code_has_a_common_name():
    codes = {
        "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
        "InternalError", "LocalListConflict", "OtherError", "OverCurrentFailure", "OverVoltage",
        "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure",
        "UnderVoltage", "WeakSignal",
    }  # fmt: skip
    assert set(FAULTS_16) == codes
    assert fault_of("OverCurrentFailure") == "over_current"
    assert fault_of(None) == fault_of("NoError") == "unspecified"  # 2.0.1 Faulted
    assert fault_of("VendorSpecific") == "other"


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = orjson.dumps(webhook_body(1, "raised", T0, {"key": "k"}))
    header = signature("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_valid("s3cret", body, header)
    assert not signature_valid("other", body, header)
    assert not signature_valid("s3cret", body + b" ", header)
    assert not signature_valid("s3cret", body, None)


def test_derived_power():
    assert derived_power((T0, 10_000), T0 + timedelta(minutes=30), 15_000) == 10_000.0
    assert derived_power(None, T0, 1) is None
    assert derived_power((T0, 10_000), T0, 11_000) is None  # no time passed
    assert derived_power((T0, 10_000), T0 + timedelta(minutes=1), 9_000) is None  # reset


def test_notifications_are_packed_in_order_under_the_notify_limit():
    notices = [
        orjson.dumps({"type": "meter", "n": n, "pad": "x" * (n % 300)}).decode() for n in range(500)
    ]
    notices.insert(250, orjson.dumps({"type": "big", "pad": "y" * 7500}).decode())
    chunks = notification_chunks(notices)
    unpacked = [event for chunk in chunks for event in orjson.loads(chunk)]
    assert unpacked == [orjson.loads(notice) for notice in notices]
    assert len(chunks) < len(notices) / 10
    assert all(len(chunk.encode()) < 8000 for chunk in chunks if "y" * 7500 not in chunk)


def test_plan_keeps_alert_changes_in_event_order():
    batch = [
        events.ConnectorStatusChanged("S", T0, 1, "Faulted", "GroundFailure"),
        events.ConnectorStatusChanged("S", T0, 1, "Available"),
        events.ConnectorStatusChanged("S", T0, 2, "Available"),
        events.ConnectorStatusChanged("S", T0, 1, "Faulted", "GroundFailure"),
        events.Connected("S", T0, "ocpp1.6"),
    ]
    out = plan(batch, OrderedDict())
    steps = _alert_steps(out.alert_ops)
    assert [(keys, a.key if a else None) for keys, a in steps] == [
        ([], "connector_faulted:S:1"),
        (["connector_faulted:S:1", "connector_faulted:S:2"], "connector_faulted:S:1"),
        (["station_offline:S"], None),
    ]
    assert len(out.statuses) == 4 and out.links == [("S", True, None, T0)]
    assert [orjson.loads(n)["type"] for n in out.notifications] == ["connector"] * 4 + ["station"]


def test_plan_meter_readings_last_one_wins_and_stop_forgets():
    readings: OrderedDict = OrderedDict()
    batch = [
        events.MeterReading("S", T0, 1, "s-1", 1_000, None),
        events.MeterReading("S", T0 + timedelta(minutes=6), 1, "s-1", 2_000, None),
    ]
    out = plan(batch, readings)
    assert out.meters["s-1"][3:5] == (2_000, 10_000.0)  # energy, power derived over 6 min
    notes = [orjson.loads(n) for n in out.notifications]
    assert [n["power_w"] for n in notes] == [None, 10_000.0]
    stopped = plan([events.SessionEvent("S", T0, "s-1", "stopped")], readings)
    assert stopped.ended == ["s-1"] and "s-1" not in readings


def test_queued_readings_of_a_connector_are_coalesced_to_the_newest():
    queue = PendingEvents()
    first = events.MeterReading("S", T0, 1, "s-1", 1_000, None)
    other_connector = events.MeterReading("S", T0, 2, "s-2", 5_000, None)
    status = events.ConnectorStatusChanged("S", T0, 1, "Charging")
    second = events.MeterReading("S", T0 + timedelta(seconds=1), 1, "s-1", 1_100, None)
    stopped = events.SessionEvent("S", T0, "s-1", "stopped")
    next_session = events.MeterReading("S", T0 + timedelta(seconds=2), 1, "s-3", 0, None)
    for event in (first, other_connector, status, second, stopped, next_session):
        queue.put(event)
    assert queue
    assert queue.take() == [other_connector, status, second, stopped, next_session]
    assert not queue and queue.take() == []
    queue.put(first)  # a new batch starts afresh: nothing left to replace
    assert queue.take() == [first]


def test_a_reading_replaces_only_one_it_covers():
    queue = PendingEvents()
    energy = events.MeterReading("S", T0, 1, "s-1", 1_000, 7_400.0)
    other_station = events.MeterReading("T", T0, 1, "s-1", 3_000, 7_000.0)
    power_only = events.MeterReading("S", T0 + timedelta(seconds=1), 1, "s-1", None, 7_000.0)
    newest = events.MeterReading("S", T0 + timedelta(seconds=2), 1, "s-1", 1_200, 6_900.0)
    for event in (energy, other_station, power_only):
        queue.put(event)
    assert queue.take() == [energy, other_station, power_only]  # power alone keeps the energy
    for event in (energy, power_only, newest):
        queue.put(event)
    assert queue.take() == [newest]


async def test_the_live_view_writes_at_most_its_batches_per_second():
    services = SimpleNamespace(
        store=SimpleNamespace(pool=SimpleNamespace(closed=False)),
        settings=SimpleNamespace(alert_sweep_interval_s=0, alert_webhook_url=None),
    )
    listener = LiveListener(None, services, "q")  # type: ignore[arg-type]
    batches: list[int] = []

    async def write(batch) -> int:
        batches.append(len(batch.meters))
        return 0

    listener._write = write  # type: ignore[method-assign]
    for n in range(100):  # 100 readings a second for a second, one connector
        listener(events.MeterReading("S", T0 + timedelta(seconds=n), 1, "s-1", n, 7_000.0))
        await asyncio.sleep(0.01)
    await listener.close()
    assert 2 <= len(batches) <= 6  # about 4 a second, not one per reading


def test_alert_raise_sql_params():
    alert = AlertRaise(cause="auth_failures", key="auth_failures:S", message="m", detail={"a": 1})
    params = alert.sql_params()
    assert params["severity"] == "warning" and params["detail"] == '{"a": 1}'


def test_months():
    assert previous_month(datetime(2026, 1, 15, tzinfo=UTC)) == "2025-12"
    start, end = month_period("2026-12", "Europe/Berlin")
    assert start.isoformat() == "2026-12-01T00:00:00+01:00"
    assert end.isoformat() == "2027-01-01T00:00:00+01:00"
