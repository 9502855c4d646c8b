"""The payload codec: every Temporal payload is stored encrypted (AES-256-GCM).

Keys come from `AMPFLOW_TEMPORAL_CODEC_KEYS`: comma-separated `id:base64key` pairs, newest
first. The newest key encrypts; every listed key decrypts, picked by the key id each encrypted
payload carries in its metadata (`encryption-key-id`), so keys rotate without rewriting
histories (docs/security.md). Payloads that are not encrypted (histories recorded before the
codec, or written by a client without it) pass through decode unchanged.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecError(ValueError):
    """A payload cannot be decrypted (unknown key id, tampered or truncated ciphertext)."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """Codec keys by id; `current` encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)


def parse_keys(spec: str) -> Keyring:
    """`id:base64key[,id:base64key…]` (newest first) → a keyring of 256-bit keys."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError("codec keys are `id:base64key` with ids of [A-Za-z0-9._-]{1,64}")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise ValueError(f"codec key {key_id!r} is not valid base64") from error
        if len(key) != 32:
            raise ValueError(f"codec key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
        if any(existing == key_id for existing, _ in keys):
            raise ValueError(f"codec key id {key_id!r} is listed twice")
        keys.append((key_id, key))
    if not keys:
        raise ValueError("no codec key configured")
    return Keyring(tuple(keys))


def new_key_spec(key_id: str) -> str:
    """A fresh `id:base64key` entry (for the dev data dir, or to print for an operator)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each serialized payload; the key id travels in the metadata and is
    authenticated as associated data."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id, _ = self.keyring.current
        cipher = self._ciphers[key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        """The original payload; one that is not encrypted is returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with unknown codec key id {key_id!r}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except (InvalidTag, ValueError) as error:
            raise CodecError(f"payload does not decrypt with codec key {key_id!r}") from error
        original = Payload()
        original.ParseFromString(plain)
        return original
