"""The per-message shortcuts of the gateway agree with the slow, obvious versions they replace."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from gateway.meter_values import live_update, sample_rows
from gateway.protocol import OcppError
from gateway.timestamps import now_iso
from gateway.value_limits import _check, check_payload


def test_now_iso_is_the_current_time_to_the_millisecond():
    before = datetime.now(UTC)
    text = now_iso()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    at = datetime.fromisoformat(text)
    assert before - timedelta(milliseconds=1) <= at <= after


def _outcome(check, payload) -> str | None:
    try:
        check(payload, "")
    except OcppError as err:
        return err.description
    return None


def _payload(rng: random.Random, depth: int = 0):
    keys = ["connectorId", "evseId", "id", "meterStart", "meterStop", "value", "evse", "other"]
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        return {rng.choice(keys): _payload(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and roll < 0.45:
        return [_payload(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    edges = [0, 1, -1, 9_999, 10_000, 2**53, 2**53 + 1, -(2**53) - 1, 1.5, -2.5, 1e300]
    return rng.choice([*edges, float("inf"), float("nan"), True, "text", None])


def test_the_quick_range_check_decides_like_the_full_one():
    """`check_payload` skips the path-naming walk when nothing can be out of range; on 20,000
    random payloads full of edge values it refuses exactly what the full walk refuses."""
    rng = random.Random(2026)
    for _ in range(20_000):
        payload = _payload(rng)
        assert _outcome(check_payload, payload) == _outcome(_check, payload), payload


def test_the_live_reading_is_the_newest_whatever_the_order_sent():
    newer, older = "2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z"
    meter_values = [
        {"timestamp": newer, "sampledValue": [{"value": "2000", "unit": "Wh"}]},
        {"timestamp": older, "sampledValue": [{"value": "1000", "unit": "Wh"}]},
    ]
    update = live_update(sample_rows("S", 1, None, None, meter_values))
    assert update is not None
    assert update.energy_wh == 2000
    assert update.timestamp == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
