"""Connecting to Temporal: one data converter for every client, worker and the replayer.

The converter is `pydantic_data_converter` with the encrypting payload codec
(`runtime.codec`), so Temporal stores only ciphertext. Its keys are a setting
(`AMPFLOW_TEMPORAL_CODEC_KEYS`); unset, a key is generated once in the data dir (like the dev
API key), so `ampflow dev` and local commands sharing that dir agree. Production sets the
variable on every process (docker-compose.yml).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from runtime.codec import EncryptionCodec, new_key_spec, parse_keys
from runtime.secret_files import read_or_create
from runtime.settings import Settings

DEV_KEY_FILE = "temporal_codec_keys"


@lru_cache
def data_converter(keys: str) -> DataConverter:
    """The converter for a keyring spec (`id:base64key,…`); one shared instance per spec.
    Failure messages and stack traces are moved into the encrypted attributes too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(parse_keys(keys)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec_keys(settings: Settings) -> str:
    """`AMPFLOW_TEMPORAL_CODEC_KEYS`, else the key generated once in the data dir."""
    if settings.temporal_codec_keys:
        return settings.temporal_codec_keys
    return dev_codec_keys(settings.data_dir)


def converter_for(settings: Settings) -> DataConverter:
    """The data converter every Temporal client of these settings uses."""
    return data_converter(codec_keys(settings))


def dev_codec_keys(data_dir: Path) -> str:
    """The data dir's codec key, created atomically on first use (concurrent processes of one
    stack, e.g. the chaos suite's, all read the first one written)."""
    return read_or_create(data_dir / DEV_KEY_FILE, new_key_spec("dev-1") + "\n")


async def connect(settings: Settings) -> Client:
    """A Temporal client for the configured address and namespace."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=converter_for(settings),
    )
