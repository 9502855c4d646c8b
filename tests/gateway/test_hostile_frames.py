"""A hostile or broken charger cannot confuse the gateway, nor disturb the other stations.

Raw OCPP-J frames go over a real socket as the seeded station DEMO-1 (subprotocol ocpp1.6):
each malformed frame is answered with the protocol-correct CALLERROR (1.6 spelling) and the
connection stays usable; a frame over `gateway_max_frame_bytes` closes the socket with 1009.
Meanwhile a second registered station keeps being served normally.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from websockets.exceptions import ConnectionClosed

from ampflow.seed import DEMO_STATION
from chargers import basic_auth_header
from domain.credentials import hash_password
from gateway.server import Gateway
from store.tables import MeterSample, OcppMessage, Station
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

OTHER_STATION = "OTHER-2"
OTHER_PASSWORD = "other-secret"
CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
ANSWER_TIMEOUT_S = 10


@asynccontextmanager
async def station_socket(gateway_url: str, station_id: str, password: str) -> AsyncIterator:
    async with websockets.connect(
        f"{gateway_url}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(station_id, password),
        open_timeout=10,
        max_size=None,
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
        yield ws


async def receive(ws) -> list:
    return orjson.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))


async def exchange(ws, frame: str | bytes) -> list:
    await ws.send(frame)
    return await receive(ws)


async def heartbeat(ws) -> None:
    unique_id = f"hb-{uuid.uuid4().hex[:24]}"
    answer = await exchange(ws, orjson.dumps([2, unique_id, "Heartbeat", {}]).decode())
    assert answer[:2] == [3, unique_id]
    assert "currentTime" in answer[2]


def assert_call_error(answer: list, unique_id: str, code: str) -> None:
    assert len(answer) == 5, answer
    assert answer[0] == 4
    assert answer[1] == unique_id
    assert answer[2] == code, answer
    assert isinstance(answer[3], str)
    assert isinstance(answer[4], dict)


@pytest.fixture
def other_station(seeded):
    with seeded.session() as session:
        session.add(
            Station(
                id=OTHER_STATION,
                password_hash=hash_password(OTHER_PASSWORD),
                ocpp_versions="ocpp1.6",
            )
        )
    return OTHER_STATION


def boot(**changes) -> dict:
    payload = {"chargePointVendor": "Hostile", "chargePointModel": "H-1"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


# Frame -> the CALLERROR (unique id, 1.6 code) it must get.
MALFORMED = [
    pytest.param("not json", "-1", "FormationViolation", id="not-json"),
    pytest.param("", "-1", "FormationViolation", id="empty"),
    pytest.param("{}", "-1", "FormationViolation", id="object"),
    pytest.param("[]", "-1", "FormationViolation", id="empty-array"),
    pytest.param('[2, 17, "Heartbeat", {}]', "-1", "FormationViolation", id="numeric-id"),
    pytest.param('[2, "id1", "Heartbeat"]', "id1", "FormationViolation", id="wrong-arity"),
    pytest.param('[2, "id2", "Heartbeat", []]', "id2", "FormationViolation", id="payload-array"),
    pytest.param('[7, "id3", "Heartbeat", {}]', "id3", "FormationViolation", id="type-7"),
    pytest.param('[2, "id4", "FooBar", {}]', "id4", "NotImplemented", id="unknown-action"),
    pytest.param('[2, "id5", "TransactionEvent", {}]', "id5", "NotImplemented", id="201-action"),
    pytest.param(
        orjson.dumps([2, "id6", "BootNotification", boot(chargePointVendor="V" * 21)]).decode(),
        "id6",
        "PropertyConstraintViolation",
        id="vendor-too-long",
    ),
    pytest.param(
        orjson.dumps([2, "id7", "BootNotification", boot(chargePointModel=None)]).decode(),
        "id7",
        "OccurenceConstraintViolation",
        id="missing-field",
    ),
    pytest.param(
        orjson.dumps([2, "id8", "BootNotification", boot(chargePointVendor=42)]).decode(),
        "id8",
        "TypeConstraintViolation",
        id="wrong-type",
    ),
    pytest.param(
        orjson.dumps([2, "id9", "BootNotification", boot(extra="x")]).decode(),
        "id9",
        "FormationViolation",
        id="unknown-property",
    ),
    pytest.param(
        orjson.dumps(
            [
                2,
                "id10",
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"},
            ]
        ).decode(),
        "id10",
        "PropertyConstraintViolation",
        id="bad-enum",
    ),
    pytest.param(
        orjson.dumps(
            [
                2,
                "id11",
                "MeterValues",
                {
                    "connectorId": 1,
                    "meterValue": [
                        {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}
                    ],
                },
            ]
        ).decode(),
        "id11",
        "PropertyConstraintViolation",
        id="meter-value-not-a-number",
    ),
]


@pytest.mark.parametrize(("frame", "unique_id", "code"), MALFORMED)
async def test_malformed_frame_gets_the_right_call_error(
    gateway_url, other_station, frame, unique_id, code
):
    async with (
        station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as hostile,
        station_socket(gateway_url, OTHER_STATION, OTHER_PASSWORD) as other,
    ):
        assert_call_error(await exchange(hostile, frame), unique_id, code)
        await heartbeat(other)
        await heartbeat(hostile)  # still usable


async def test_a_whole_hostile_sequence_on_one_connection(gateway_url, other_station):
    async with (
        station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as hostile,
        station_socket(gateway_url, OTHER_STATION, OTHER_PASSWORD) as other,
    ):
        for param in MALFORMED:
            frame, unique_id, code = param.values
            assert_call_error(await exchange(hostile, frame), unique_id, code)
            await heartbeat(other)
        valid = orjson.dumps([2, "boot-ok", "BootNotification", boot()]).decode()
        answer = await exchange(hostile, valid)
        assert answer[:2] == [3, "boot-ok"] and answer[2]["status"] == "Accepted"


async def test_binary_frame_is_read_as_text(gateway_url, seeded):
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        answer = await exchange(ws, orjson.dumps([2, "bin-1", "Heartbeat", {}]))
        assert answer[:2] == [3, "bin-1"]
        assert_call_error(await exchange(ws, b"\xff\xfe"), "-1", "FormationViolation")
        await heartbeat(ws)


@pytest.mark.parametrize(
    "frame",
    [
        '[3, "nobody-asked", {"status": "Accepted"}]',
        '[4, "nobody-asked", "GenericError", "oops", {}]',
    ],
    ids=["callresult", "callerror"],
)
async def test_unsolicited_answer_is_ignored(gateway_url, seeded, frame):
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        await ws.send(frame)
        # Nothing answers the stray frame: the very next frame we get is the Heartbeat's answer.
        await heartbeat(ws)
        await heartbeat(ws)


async def test_oversized_frame_closes_the_socket_with_1009(gateway_url, settings, other_station):
    limit = settings.gateway_max_frame_bytes
    async with (
        station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as hostile,
        station_socket(gateway_url, OTHER_STATION, OTHER_PASSWORD) as other,
    ):
        # Just at the limit is fine (answered with a schema error, not a close).
        padding = "x" * (limit - len(orjson.dumps([2, "big", "DataTransfer", {"vendorId": ""}])))
        at_limit = orjson.dumps([2, "big", "DataTransfer", {"vendorId": padding}])
        assert len(at_limit) == limit
        answer = await exchange(hostile, at_limit.decode())
        assert answer[:3] == [4, "big", "PropertyConstraintViolation"]  # vendorId > 255

        too_big = orjson.dumps([2, "BIG", "DataTransfer", {"vendorId": padding + "x"}])
        assert len(too_big) == limit + 1
        await hostile.send(too_big.decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(hostile.recv(), ANSWER_TIMEOUT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        await heartbeat(other)

    # The station may come back.
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as again:
        await heartbeat(again)


# ---- U+0000 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "poison",
    [
        "\x00",  # a raw NUL: not JSON, but still written to the message log as received
        '[2, "nul\\u0000id", "Heartbeat", {}]',  # valid JSON: the id contains U+0000
        '[2, "nul-action", "Foo\\u0000Bar", {}]',  # the action contains U+0000
    ],
    ids=["raw-nul", "nul-in-id", "nul-in-action"],
)
async def test_nul_characters_do_not_stall_the_gateway(
    settings, temporal_client, database_url, db, other_station, poison
):
    """PostgreSQL text cannot hold U+0000; one such frame must not break logging for everyone."""
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    url = f"ws://127.0.0.1:{gw.port}/ocpp"
    try:
        async with (
            station_socket(url, DEMO_STATION, DEMO_PASSWORD) as hostile,
            station_socket(url, OTHER_STATION, OTHER_PASSWORD) as other,
        ):
            await hostile.send(poison)
            await receive(hostile)  # answered (a CALLERROR or the Heartbeat's answer)
            await heartbeat(hostile)

            # Another station's readings are still stored and acknowledged ...
            reading = {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": "2026-01-01T00:00:00Z",
                        "sampledValue": [{"value": "1234", "unit": "Wh"}],
                    }
                ],
            }
            answer = await exchange(
                other, orjson.dumps([2, "mv-1", "MeterValues", reading]).decode()
            )
            assert answer == [3, "mv-1", {}]
            await heartbeat(other)

            # ... and its frames still reach the message log.
            def logged():
                with db.session() as session:
                    return session.exec(
                        select(OcppMessage).where(
                            OcppMessage.station_id == OTHER_STATION,
                            OcppMessage.unique_id == "mv-1",
                            OcppMessage.direction == "in",
                        )
                    ).first()

            await eventually(logged, timeout=5)
    finally:
        try:
            await asyncio.wait_for(gw.stop(), 5)
            stopped = True
        except TimeoutError:
            await gw.store.close()
            stopped = False
    assert stopped, "the gateway did not stop: its recorder kept retrying the same batch"


async def test_a_nul_in_a_signed_reading_spoils_no_batch(gateway_url, db, other_station):
    """U+0000 inside a 1.6 SignedData value: the reading is stored (escaped) and acknowledged,
    and another station's readings sent at the same moment are stored with it."""

    def reading(value: str, sample_format: str | None = None) -> dict:
        sampled = {"value": value, "measurand": "Energy.Active.Import.Register"}
        if sample_format:
            sampled["format"] = sample_format
        return {
            "connectorId": 1,
            "meterValue": [{"timestamp": "2026-01-02T03:04:05Z", "sampledValue": [sampled]}],
        }

    async with (
        station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as hostile,
        station_socket(gateway_url, OTHER_STATION, OTHER_PASSWORD) as other,
    ):
        answers = await asyncio.gather(
            exchange(
                hostile,
                orjson.dumps([2, "signed", "MeterValues", reading("ab\x00cd", "SignedData")]),
            ),
            exchange(other, orjson.dumps([2, "plain", "MeterValues", reading("4321")])),
        )
    assert answers == [[3, "signed", {}], [3, "plain", {}]]
    with db.session() as session:
        stored = {
            row.station_id: row
            for row in session.exec(
                select(MeterSample).where(MeterSample.station_id.in_([DEMO_STATION, OTHER_STATION]))
            ).all()
        }
    assert stored[DEMO_STATION].signed_data == "ab\\u0000cd"
    assert stored[OTHER_STATION].value == 4321


# ---- random frames -------------------------------------------------------------------------

# Actions answered without Temporal (Authorize / StartTransaction would wait for a worker).
SAFE_ACTIONS = [
    "Heartbeat",
    "BootNotification",
    "StatusNotification",
    "DataTransfer",
    "MeterValues",
    "FirmwareStatusNotification",
    "FooBar",
    "",
]
# U+0000 is left out here: it has its own test below (it must not stall the message log).
safe_text = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=4)
    ),
    max_leaves=12,
)
unique_ids = st.text(safe_text, max_size=40) | st.integers() | st.none()
payloads = (
    st.dictionaries(
        st.sampled_from(
            [
                "chargePointVendor",
                "chargePointModel",
                "connectorId",
                "status",
                "errorCode",
                "vendorId",
                "meterValue",
                "data",
                "x",
            ]
        ),
        json_values,
        max_size=4,
    )
    | json_values
)
rpc_arrays = st.builds(
    lambda message_type, unique_id, action, payload, length: [
        message_type,
        unique_id,
        action,
        payload,
        None,
    ][:length],
    st.sampled_from([2, 3, 4, 5, 0, -1]) | json_values,
    unique_ids,
    st.sampled_from(SAFE_ACTIONS) | json_values,
    payloads,
    st.integers(0, 5),
)
text_frames = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
frames = (
    text_frames
    | json_values.map(lambda v: orjson.dumps(v).decode())
    | rpc_arrays.map(lambda v: orjson.dumps(v).decode())
)


async def probe_after(ws, frame: str) -> None:
    """Send `frame`, then a Heartbeat; check what came back before the Heartbeat's answer."""
    await ws.send(frame)
    probe = f"probe-{uuid.uuid4().hex[:24]}"  # OCPP ids are at most 36 characters
    await ws.send(orjson.dumps([2, probe, "Heartbeat", {}]).decode())
    answers = []
    while True:
        answer = await receive(ws)
        if answer[1] == probe:
            break
        answers.append(answer)
    # The probe was answered normally: the connection is still usable.
    assert answer[0] == 3 and "currentTime" in answer[2]
    # At most one answer to the random frame, and it is a well-formed CALLRESULT or CALLERROR.
    assert len(answers) <= 1, answers
    for other in answers:
        assert other[0] in (3, 4), other
        assert isinstance(other[1], str) and (1 <= len(other[1]) <= 36 or other[1] == "-1")
        if other[0] == 4:
            assert len(other) == 5
            assert other[2] in CODES_16, other
            assert isinstance(other[3], str) and len(other[3]) <= 255
            assert isinstance(other[4], dict)
        else:
            assert len(other) == 3 and isinstance(other[2], dict)
    if not answers:
        # Only an answer-shaped frame (CALLRESULT / CALLERROR) may go unanswered.
        parsed = orjson.loads(frame)
        assert isinstance(parsed, list) and parsed[0] in (3, 4), frame


async def test_random_frames_get_an_answer_or_are_ignored(gateway_url, seeded):
    loop = asyncio.get_running_loop()
    async with station_socket(gateway_url, DEMO_STATION, DEMO_PASSWORD) as ws:
        # Hypothesis drives the examples from a thread; each runs on this test's event loop,
        # all on the same connection (it must stay usable throughout).
        @settings(
            max_examples=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # bounded: no shrinking
        )
        @given(frame=frames)
        def check(frame: str) -> None:
            asyncio.run_coroutine_threadsafe(probe_after(ws, frame), loop).result(30)

        await asyncio.to_thread(check)
