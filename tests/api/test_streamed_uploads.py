"""Large uploads are streamed to storage: a 24 MiB firmware image, raw or as a multipart form
sent in odd-sized chunks, is stored intact while the API holds only a few MiB of it at once
(measured with tracemalloc, not with the clock); over its limit it is refused with 413."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ADMIN_KEY

MIB = 1024 * 1024
SIZE = 24 * MIB
LIMIT = SIZE // 2  # the tree before streaming held at least twice SIZE
HEADERS = {"X-API-Key": ADMIN_KEY}


def _image() -> bytes:
    block = hashlib.sha256(b"firmware").digest() * (MIB // 32)
    return b"".join(bytes([n]) + block[1:] for n in range(SIZE // MIB))


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _peak_while(request) -> tuple[object, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        response = await request
        return response, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


async def _content_sha(api, firmware_id: int) -> str:
    content = await api.get(f"/firmware/{firmware_id}/content")
    assert content.status_code == 200
    return hashlib.sha256(content.content).hexdigest()


async def test_a_raw_image_is_streamed_to_storage(api, seeded):
    image = _image()
    request = api.post(
        "/firmware",
        params={"version": "1.0.0", "file_name": "fw.bin"},
        content=_chunks(image, MIB),
        headers={**HEADERS, "Content-Type": "application/octet-stream"},
    )
    response, peak = await _peak_while(request)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == SIZE
    assert response.json()["sha256"] == hashlib.sha256(image).hexdigest()
    assert peak < LIMIT, f"{peak / MIB:.1f} MiB held for a {SIZE // MIB} MiB upload"
    assert await _content_sha(api, response.json()["id"]) == hashlib.sha256(image).hexdigest()


@pytest.mark.parametrize("chunk", [7_777, MIB + 3])
async def test_a_multipart_image_is_streamed_to_storage(api, seeded, chunk):
    image = _image()
    boundary = "xX-ampflow-boundary-Xx"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="version"\r\n\r\n'
            f"2.0.{chunk}\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="image.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = api.post(
        "/firmware",
        content=_chunks(body, chunk),
        headers={**HEADERS, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response, peak = await _peak_while(request)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["version"], stored["file_name"]) == (f"2.0.{chunk}", "image.bin")
    assert (stored["size"], stored["sha256"]) == (SIZE, hashlib.sha256(image).hexdigest())
    assert peak < LIMIT, f"{peak / MIB:.1f} MiB held"
    assert await _content_sha(api, stored["id"]) == stored["sha256"]


async def test_over_the_limit_and_malformed_uploads_are_refused(api, seeded, settings):
    settings.firmware_max_bytes = 4 * MIB  # read per request
    big = await api.post(
        "/firmware",
        params={"version": "3.0.0"},
        content=_chunks(b"\x00" * (5 * MIB), MIB),
        headers={**HEADERS, "Content-Type": "application/octet-stream"},
    )
    assert big.status_code == 413
    broken = await api.post(
        "/firmware",
        params={"version": "3.0.1"},
        content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end',
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400
    no_file = await api.post(
        "/firmware",
        params={"version": "3.0.2"},
        content=b'--b\r\nContent-Disposition: form-data; name="notes"\r\n\r\nhi\r\n--b--\r\n',
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert no_file.status_code == 400
