"""The payload codec: AES-256-GCM, key ids for rotation, plaintext passed through on decode."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from runtime.codec import ENCODING, KEY_ID, CodecError, EncryptionCodec, new_key_spec, parse_keys
from runtime.settings import Settings
from runtime.temporal import converter_for, dev_codec_keys
from tests.conftest import TEST_CODEC_KEYS
from workers.session_worker import build_replayer

HISTORIES = Path(__file__).parents[1] / "histories"
SECRET = b'{"id_tag":"DEMO-TAG","email":"demo.driver@example.com"}'


def plain(data: bytes = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_round_trip_stores_no_plaintext_and_names_the_key():
    codec = EncryptionCodec(parse_keys(TEST_CODEC_KEYS))
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"test-1"
    assert b"DEMO-TAG" not in sealed.SerializeToString()
    assert b"demo.driver" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain()]
    [again] = await codec.encode([plain()])
    assert again.data != sealed.data  # a fresh nonce per payload


async def test_rotation_new_key_encrypts_old_key_still_decrypts():
    old_spec = new_key_spec("k1")
    old = EncryptionCodec(parse_keys(old_spec))
    [sealed_before] = await old.encode([plain()])
    rotated = EncryptionCodec(parse_keys(f"{new_key_spec('k2')},{old_spec}"))
    [sealed_after] = await rotated.encode([plain()])
    assert sealed_after.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([sealed_before, sealed_after]) == [plain(), plain()]
    with pytest.raises(CodecError, match="unknown codec key id 'k2'"):
        await old.decode([sealed_after])  # a process without the new key fails loudly


async def test_unencrypted_payloads_pass_through_decode_unchanged():
    codec = EncryptionCodec(parse_keys(TEST_CODEC_KEYS))
    payloads = [plain(), Payload(metadata={"encoding": b"binary/null"}), Payload()]
    assert await codec.decode(payloads) == payloads


async def test_tampered_or_truncated_ciphertext_is_refused():
    codec = EncryptionCodec(parse_keys(TEST_CODEC_KEYS))
    [sealed] = await codec.encode([plain()])
    flipped = Payload(
        metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"other"}, data=sealed.data)
    for bad in (flipped, Payload(metadata=sealed.metadata, data=b"short"), relabelled):
        with pytest.raises(CodecError):
            await codec.decode([bad])
    other = EncryptionCodec(parse_keys("test-1:" + base64.b64encode(b"x" * 32).decode()))
    with pytest.raises(CodecError, match="does not decrypt"):
        await other.decode([sealed])  # same id, another key


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", "k1:not-base64!", "k1:" + base64.b64encode(b"short").decode(), "a b:AAAA"],
)
def test_bad_key_settings_are_refused(spec):
    with pytest.raises(ValueError):
        parse_keys(spec)


def test_the_same_key_id_twice_is_refused():
    key = new_key_spec("k1")
    with pytest.raises(ValueError, match="twice"):
        parse_keys(f"{key},{key}")


def test_dev_key_is_generated_once_in_the_data_dir(tmp_path):
    first = dev_codec_keys(tmp_path)
    assert dev_codec_keys(tmp_path) == first
    assert (tmp_path / "temporal_codec_keys").stat().st_mode & 0o777 == 0o600
    assert parse_keys(first).current[0] == "dev-1"
    settings = Settings(data_dir=tmp_path, temporal_codec_keys=None)
    assert converter_for(settings) is converter_for(settings)  # one shared converter


async def test_replayer_replays_the_stored_unencrypted_histories():
    """Stored histories were captured before the codec, in plaintext: the replayer's codec
    passes them through. (A history recorded with the codec replays too:
    test_history_ciphertext.py.)"""
    path = HISTORIES / "ChargingSession" / "authorized_never_started.json"
    data = [
        base64.b64decode(node["data"])
        for node in _payload_nodes(json.loads(path.read_text()))
        if "data" in node
    ]
    assert any(b'"id_token":"DEMO-TAG"' in d for d in data)  # plaintext, as captured
    await build_replayer().replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


def _payload_nodes(node) -> list[dict]:
    if isinstance(node, dict):
        found = [node] if "metadata" in node else []
        return found + [n for value in node.values() for n in _payload_nodes(value)]
    if isinstance(node, list):
        return [n for item in node for n in _payload_nodes(item)]
    return []
