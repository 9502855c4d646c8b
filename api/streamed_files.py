"""Uploads streamed to storage: never the whole file in memory.

`spool_upload` reads the request body chunk by chunk under a byte limit (413 beyond it), takes
the file out of it — the raw body, or the first file part of a multipart/form-data body, parsed
as it streams — and writes it to a temporary file (in memory up to 1 MiB, then on disk),
hashing as it goes. `store_spooled` copies it into `maintenance_files` with PostgreSQL's binary
COPY, one chunk at a time, in the caller's transaction.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import struct
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import IO

from fastapi import HTTPException, Request, status
from sqlalchemy import text
from sqlmodel import Session

CHUNK = 1024 * 1024
HEADERS_MAX = 16 * 1024  # a part's headers
FIELD_MAX = 64 * 1024  # a text field of a multipart form


@dataclass
class Spooled:
    """An uploaded file held in a temporary file, with its size, digest and form fields."""

    file: IO[bytes]
    size: int = 0
    sha256: str = ""
    file_name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    size: int
    sha256: str


class _Sink:
    """Where the file's bytes go: the spool, counted and hashed."""

    def __init__(self) -> None:
        self.spool: IO[bytes] = SpooledTemporaryFile(max_size=CHUNK)  # noqa: SIM115
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if data:
            self.spool.write(data)
            self.digest.update(data)
            self.size += len(data)


class _Multipart:
    """A streaming multipart/form-data parser keeping the first file part and text fields."""

    def __init__(self, boundary: bytes, sink: _Sink) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.buffer = b"\r\n"  # so that the first delimiter looks like every other one
        self.state = "preamble"
        self.sink = sink
        self.file_name: str | None = None
        self.fields: dict[str, str] = {}
        self.have_file = False
        self.target: str | None = None  # "file" | a field name | None (skipped part)
        self.value = bytearray()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self.state in ("preamble", "body"):
            at = self.buffer.find(self.delimiter)
            view = memoryview(self.buffer)  # hand content on without copying it
            if at < 0:
                keep = len(self.delimiter) - 1
                if len(self.buffer) > keep:
                    self._content(view[:-keep])
                    self.buffer = self.buffer[-keep:]
                return False
            self._content(view[:at])
            self._end_part()
            self.buffer = self.buffer[at + len(self.delimiter) :]
            self.state = "after_delimiter"
            return True
        if self.state == "after_delimiter":
            if len(self.buffer) < 2:
                return False
            if self.buffer.startswith(b"--"):
                self.state, self.buffer = "done", b""
                return False
            self.state = "headers"
            return True
        if self.state == "headers":
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > HEADERS_MAX:
                    raise _malformed("part headers too long")
                return False
            self._start_part(self.buffer[:end])
            self.buffer = self.buffer[end + 4 :]
            self.state = "body"
            return True
        return False  # done: an epilogue is ignored

    def _start_part(self, raw: bytes) -> None:
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        head = parser.parsebytes(raw.lstrip() + b"\r\n\r\n")
        file_name = head.get_filename()
        name = head.get_param("name", header="content-disposition")
        if (file_name is not None or name == "file") and not self.have_file:
            self.target, self.have_file, self.file_name = "file", True, file_name
        elif file_name is None and isinstance(name, str):
            self.target = name
        else:
            self.target = None
        self.value = bytearray()

    def _content(self, data: memoryview) -> None:
        if self.state != "body" or self.target is None:
            return
        if self.target == "file":
            self.sink.write(data)
            return
        self.value += data
        if len(self.value) > FIELD_MAX:
            raise _malformed(f"form field {self.target!r} too long")

    def _end_part(self) -> None:
        if self.state == "body" and self.target not in (None, "file"):
            self.fields[self.target] = self.value.decode("utf-8", "replace")
        self.target = None


def _malformed(why: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed multipart body: {why}")


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"limit is {max_bytes} bytes")


async def spool_upload(request: Request, max_bytes: int) -> Spooled:
    """The uploaded file (raw body, or the first file part of a multipart form), streamed to a
    temporary file; 413 as soon as the body exceeds `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    content_type = request.headers.get("content-type", "")
    sink = _Sink()
    parser = None
    if content_type.lower().startswith("multipart/"):
        head = email.parser.HeaderParser(policy=email.policy.HTTP).parsestr(
            f"Content-Type: {content_type}\r\n\r\n"
        )
        boundary = head.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise _malformed("no boundary")
        parser = _Multipart(boundary.encode("latin-1", "replace"), sink)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            sink.spool.close()
            raise _too_large(max_bytes)
        if parser is None:
            sink.write(chunk)
        else:
            parser.feed(chunk)
    spooled = Spooled(file=sink.spool, size=sink.size, sha256=sink.digest.hexdigest())
    if parser is not None:
        if parser.state != "done" or not parser.have_file:
            sink.spool.close()
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "no file part in the multipart body"
                if parser.state == "done"
                else "malformed multipart body",
            )
        spooled.file_name, spooled.fields = parser.file_name, parser.fields
    else:
        spooled.file_name = _disposition_name(request.headers.get("content-disposition"))
    spooled.file.seek(0)
    return spooled


def _disposition_name(disposition: str | None) -> str | None:
    if not disposition:
        return None
    header = f"Content-Disposition: {disposition}\r\n\r\n".encode()
    return email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header).get_filename()


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


def _field(value: bytes) -> bytes:
    return struct.pack("!i", len(value)) + value


def store_spooled(db: Session, kind: str, spooled: Spooled) -> Stored:
    """Copy the spooled file into `maintenance_files` (binary COPY, chunk by chunk)."""
    file_id = db.exec(  # type: ignore[call-overload]
        text("SELECT nextval(pg_get_serial_sequence('maintenance_files', 'id'))")
    ).scalar_one()
    connection = db.connection().connection.driver_connection
    spooled.file.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY maintenance_files (id, kind, size, sha256, content) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(
            _COPY_HEADER
            + struct.pack("!h", 5)
            + _field(struct.pack("!q", file_id))
            + _field(kind.encode())
            + _field(struct.pack("!q", spooled.size))
            + _field(spooled.sha256.encode())
            + struct.pack("!i", spooled.size)
        )
        while chunk := spooled.file.read(CHUNK):
            copy.write(chunk)
        copy.write(struct.pack("!h", -1))
    return Stored(id=file_id, size=spooled.size, sha256=spooled.sha256)
