"""Temporal stores ciphertext: a real session's history, read from the dev server by a client
without the codec, holds neither the id token nor the driver's e-mail; with the codec the token
decodes, and the recorded (encrypted) history replays. Every payload is encrypted whatever it
holds, so the token stands for any personal data. Fails without the codec."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from ampflow.seed import DEMO_EMAIL, DEMO_STATION, DEMO_TAG
from chargers import ChargerConfig
from chargers.demo import run_demo_session
from runtime.codec import ENCODING
from tests.conftest import DEMO_PASSWORD
from tests.helpers import session_result
from workers.session_worker import build_replayer
from workflows import contract


def payloads_of(message) -> list[Payload]:
    """Every Payload inside a protobuf message (events, failures, memos …), depth first."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if hasattr(value, "ListFields"):
            values = [value]
        elif hasattr(value, "values"):  # a map field
            values = list(value.values())
        else:  # a repeated field
            values = list(value)
        for item in values:
            if hasattr(item, "ListFields"):
                found += payloads_of(item)
    return found


async def test_session_history_holds_ciphertext_only(
    seeded, worker, gateway_url, temporal_client, temporal_address
):
    config = ChargerConfig(DEMO_STATION, DEMO_PASSWORD, gateway_url, max_power_w=150_000)
    sim = await run_demo_session(config, DEMO_TAG, meter_values=2, interval_s=0.2)
    assert sim.refused is None
    await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    workflow_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)

    # What Temporal holds, read by a client that has no codec.
    plain_client = await Client.connect(temporal_address, data_converter=DataConverter())
    stored = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    raw = b"".join(event.SerializeToString() for event in stored.events)
    assert DEMO_TAG.encode() not in raw
    assert DEMO_EMAIL.encode() not in raw  # (this session's payloads do not name it at all)
    # Search attributes stay readable for the UI's queries; they never carry the raw token.
    encrypted = [p for e in stored.events for p in payloads_of(e) if p.metadata]
    sealed = [p for p in encrypted if p.metadata.get("encoding") == ENCODING]
    assert len(sealed) > 10

    # The codec client (every worker, gateway and API uses the same converter) decodes them.
    codec = temporal_client.data_converter.payload_codec
    assert codec is not None
    decoded = b"".join(p.data for p in await codec.decode(sealed))
    assert f'"id_token":"{DEMO_TAG}"'.encode() in decoded

    # The history as recorded, ciphertext and all, replays with the worker's converter.
    fetched = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    await build_replayer().replay_workflow(WorkflowHistory(workflow_id, fetched.events))
