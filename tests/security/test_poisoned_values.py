"""Values a station sends are range-checked at the edge: nothing it sends poisons a row, stalls a
workflow or breaks a page for everyone.

Before: `9999-12-31T23:59:59-12:00` (schema-valid) was stored and made `GET /stations`,
`/sessions` answer 500 until someone edited the database; `meterStart: 2147483648` overflowed a
32-bit column and the step retried forever; `connectorId` ≥ 2^31 and NaN meter values were
`InternalError`s. Now: a timestamp that cannot be real is taken as the time received, a number
we cannot store gets `PropertyConstraintViolation`, and the connection stays usable.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import orjson
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from ampflow.seed import DEMO_STATION, DEMO_TAG
from domain.session import SessionState
from tests.conftest import DEMO_PASSWORD
from tests.gateway.test_hostile_frames import station_socket
from tests.helpers import session_result

ACCEPTABLE_ERRORS = {
    "PropertyConstraintViolation",
    "ProtocolError",  # a frame our JSON parser cannot read (integers beyond 64 bits)
    "TypeConstraintViolation",
    "FormationViolation",
    "OccurenceConstraintViolation",
}
HUGE_TIMESTAMP = "9999-12-31T23:59:59-12:00"


async def call(ws, action: str, payload: dict) -> list:
    unique_id = uuid.uuid4().hex[:20]
    await ws.send(json.dumps([2, unique_id, action, payload]))  # stdlib: any size of integer
    while True:
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
        if answer[1] == unique_id:
            return answer


def status(connector: int, at: str = "2026-01-01T00:00:00Z") -> dict:
    return {
        "connectorId": connector,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": at,
    }


async def pages_work(api) -> None:
    for path in ("/stations", "/sessions", f"/stations/{DEMO_STATION}", "/fleet"):
        response = await api.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])


async def test_an_overflowing_timestamp_is_taken_as_the_time_received(
    seeded, worker, gateway_url, api
):
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        answer = await call(ws, "StatusNotification", status(1, HUGE_TIMESTAMP))
        assert answer[0] == 3
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        assert (await call(ws, "BootNotification", boot))[0] == 3
    await pages_work(api)
    station = (await api.get(f"/stations/{DEMO_STATION}")).json()
    assert "9999" not in orjson.dumps(station).decode()


async def test_big_meter_registers_are_kept_and_absurd_ones_refused(
    seeded, worker, gateway_url, temporal_client, api
):
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        start = {
            "connectorId": 1,
            "idTag": DEMO_TAG,
            "meterStart": 2**31,  # a busy DC charger's lifetime register: fine
            "timestamp": "2026-01-01T00:00:00Z",
        }
        started = await call(ws, "StartTransaction", start)
        assert started[0] == 3 and started[2]["idTagInfo"]["status"] == "Accepted"
        tx = started[2]["transactionId"]
        absurd = await call(ws, "StartTransaction", {**start, "meterStart": 2**62})
        assert absurd[0] == 4 and absurd[2] == "PropertyConstraintViolation"
        stop = {"transactionId": tx, "meterStop": 2**31 + 1500, "timestamp": "2026-01-01T00:30:00Z"}
        assert (await call(ws, "StopTransaction", stop))[0] == 3
        assert (await call(ws, "Heartbeat", {}))[0] == 3  # the station is not stalled
    view = await session_result(temporal_client, DEMO_STATION, tx)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1500
    await pages_work(api)


async def test_out_of_range_ids_and_values_are_refused_not_internal_errors(
    seeded, gateway_url, api
):
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        answer = await call(ws, "StatusNotification", status(2**31))
        assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"
        for value in ("NaN", "Infinity", "-Infinity", "1e400"):
            meter = {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": value}]}
                ],
            }
            answer = await call(ws, "MeterValues", meter)
            assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation", (value, answer)
        assert (await call(ws, "Heartbeat", {}))[0] == 3
    await pages_work(api)


_extreme_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**53, 2**53 + 1, 2**63, -1, 0, 9_999, 10_000]),
)
_timestamps = st.one_of(
    st.sampled_from(
        [
            HUGE_TIMESTAMP,
            "0001-01-01T00:00:00+14:00",
            "1970-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
            "2026-01-01T00:00:00+23:59",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "inf", "1e308", "-1e309", "0x10", ""]),
)
_payloads = st.one_of(
    st.builds(
        lambda c, t: ("StatusNotification", status(c, t)),
        _extreme_ints,
        _timestamps,
    ),
    st.builds(
        lambda c, t, v: (
            "MeterValues",
            {"connectorId": c, "meterValue": [{"timestamp": t, "sampledValue": [{"value": v}]}]},
        ),
        _extreme_ints,
        _timestamps,
        _values,
    ),
)


async def test_generated_extreme_values_never_poison_the_system(seeded, settings, gateway_url, api):
    settings.gateway_rate_limit_per_s = settings.gateway_rate_burst = 100_000  # not a flood test
    loop = asyncio.get_running_loop()
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:

        async def probe(action: str, payload: dict) -> None:
            answer = await call(ws, action, payload)
            if answer[0] == 4:
                assert answer[2] in ACCEPTABLE_ERRORS, (action, payload, answer)

        @examples(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # bounded: no shrinking
        )
        @given(message=_payloads)
        def check(message: tuple[str, dict]) -> None:
            asyncio.run_coroutine_threadsafe(probe(*message), loop).result(30)

        await asyncio.to_thread(check)
        assert (await call(ws, "Heartbeat", {}))[0] == 3
    await pages_work(api)
