"""Firmware updates and diagnostics/log uploads, as hardware performs them.

Firmware: wait for the retrieve time, Downloading, download (with retries), Downloaded,
(2.0.1 signed: SignatureVerified or InvalidSignature), wait until no transaction runs, Installing
(2.0.1 also InstallRebooting), reboot, boot with the new version, Installed. `Behaviour` makes
any step fail or stall (see `chargers/config.py`). The new version is
read from the image: a first line `AMPFLOW-FIRMWARE <version>`, else a version-like part of the
file name (`fw-2.1.0.bin` -> 2.1.0), else `sha-<first 8 hex of its sha256>`.

Diagnostics / logs: Uploading, upload the charger's journal lines in the requested window (with
retries), Uploaded or UploadFailed (2.0.1 / security extension: UploadFailure).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson

from chargers import transfers
from chargers.clock import parse_iso
from chargers.journal import read

if TYPE_CHECKING:
    from chargers.charger import Charger

MARKER = b"AMPFLOW-FIRMWARE "


def firmware_version(image: bytes, location: str) -> str:
    if image.startswith(MARKER):
        line = image[len(MARKER) :].split(b"\n", 1)[0].strip()
        if line:
            return line.decode("utf-8", "replace")[:50]
    name = PurePosixPath(urlsplit(location).path).name
    found = re.search(r"\d+(?:\.\d+)+", name)
    if found:
        return found.group(0)
    return "sha-" + hashlib.sha256(image).hexdigest()[:8]


def signature_ok(image: bytes, signature: str, certificate: str) -> bool:
    """Verify the image's signature with the certificate's public key (RSA or ECDSA, SHA-256)."""
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    except ImportError:  # without `cryptography` nothing can be verified: refuse
        return False
    try:
        key = x509.load_pem_x509_certificate(certificate.encode()).public_key()
        raw = base64.b64decode(signature)
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, image, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, image, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


async def _wait_until(charger: Charger, at: datetime | None) -> None:
    if at is not None:
        await charger.clock.sleep((at - charger.clock.now()).total_seconds())


async def update_firmware(
    charger: Charger,
    location: str,
    retrieve_at: str | None,
    *,
    request_id: int | None = None,
    retries: int = 0,
    retry_interval_s: float = 30,
    signature: str | None = None,
    certificate: str | None = None,
    install_at: str | None = None,
) -> None:
    """The whole update, reporting every status (`protocol.firmware_status`)."""
    behaviour, notify = charger.config.behaviour, charger.protocol.firmware_status
    await _wait_until(charger, parse_iso(retrieve_at) if retrieve_at else None)
    charger.journal.write("firmware", step="start", location=location, requestId=request_id)
    await notify("Downloading", request_id)
    if behaviour.download_stalls:
        charger.journal.write("firmware", step="stalled", phase="download")
        return
    image = None
    for attempt in range(retries + 1):
        if attempt:
            await charger.clock.sleep(retry_interval_s)
        if behaviour.download_fails:
            charger.journal.write("download", url=location, ok=False, error="configured to fail")
            continue
        try:
            image = await transfers.download(charger, location)
            break
        except transfers.TransferError:
            continue
    if image is None:
        await notify("DownloadFailed", request_id)
        return
    await notify("Downloaded", request_id)
    if signature or certificate:  # a signed update (2.0.1, 1.6 security extension)
        verified = behaviour.signature == "accept" or (
            behaviour.signature == "verify"
            and bool(signature and certificate)
            and signature_ok(image, signature or "", certificate or "")
        )
        if not verified:
            await notify("InvalidSignature", request_id)
            return
        await notify("SignatureVerified", request_id)
    if behaviour.install_verification_fails:  # e.g. the image's own checksum
        signed = charger.v201 or request_id is not None
        await notify("InstallVerificationFailed" if signed else "InstallationFailed", request_id)
        return
    await _wait_until(charger, parse_iso(install_at) if install_at else None)
    while charger.sessions.active():  # hardware installs when idle
        await charger.clock.sleep(1)
    if behaviour.report_installing:
        await notify("Installing", request_id)
    if behaviour.install_fails:
        await notify("InstallationFailed", request_id)
        return
    if behaviour.install_stalls:
        charger.journal.write("firmware", step="stalled", phase="install")
        return
    version = firmware_version(image, location)
    charger.journal.write("firmware", step="installed", version=version, bytes=len(image))
    charger.state.pending_firmware = {"version": version, "request_id": request_id}
    charger.state.firmware_version = version
    charger.save_state()
    if charger.v201:
        await notify("InstallRebooting", request_id)
    await charger.reboot("FirmwareUpdate", hard=False)


def log_file(charger: Charger, oldest: str | None, latest: str | None) -> bytes:
    """The charger's journal lines between `oldest` and `latest` (JSON lines)."""
    if charger.journal.path is not None and charger.journal.path.exists():
        events = read(charger.journal.path)
    else:
        events = list(charger.journal.events)
    lo = parse_iso(oldest) if oldest else None
    hi = parse_iso(latest) if latest else None
    lines = []
    for event in events:
        at = parse_iso(event["t"])
        if (lo is None or at >= lo) and (hi is None or at <= hi):
            lines.append(orjson.dumps(event))
    header = f"# {charger.station_id} firmware {charger.state.firmware_version}\n".encode()
    return header + b"\n".join(lines) + b"\n"


async def upload_log(
    charger: Charger,
    location: str,
    file_name: str,
    *,
    request_id: int | None = None,
    oldest: str | None = None,
    latest: str | None = None,
    retries: int = 0,
    retry_interval_s: float = 30,
) -> None:
    """Upload the log, reporting Uploading then Uploaded or the failure (`protocol.log_status`)."""
    notify, behaviour = charger.protocol.log_status, charger.config.behaviour
    await asyncio.sleep(0)
    await notify("Uploading", request_id)
    if behaviour.upload_stalls:
        charger.journal.write("upload", url=location, ok=False, error="stalled")
        return
    content = log_file(charger, oldest, latest)
    for attempt in range(retries + 1):
        if attempt:
            await charger.clock.sleep(retry_interval_s)
        if behaviour.upload_fails or behaviour.upload_failures > 0:
            behaviour.upload_failures = max(behaviour.upload_failures - 1, 0)
            charger.journal.write("upload", url=location, ok=False, error="configured to fail")
            continue
        try:
            await transfers.upload(charger, location, file_name, content)
        except transfers.TransferError:
            continue
        await notify("Uploaded", request_id)
        return
    await notify("failed", request_id)
