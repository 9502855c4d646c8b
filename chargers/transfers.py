"""File transfers over HTTP(S): firmware downloads and diagnostics/log uploads.

Uploads go as the URL asks: `?method=post` (or `put`) in the URL decides, else the charger's
`upload_method` (auto = PUT of the raw body). A PUT names its file as `upload_name` says: in a
Content-Disposition header (default), appended to the URL's path (the location taken as a
directory), or not at all. POST sends multipart/form-data with one `file` part. Only http and
https are supported (an ftp:// location fails the transfer, as on a charger without FTP). Every
transfer is in the journal (`download` / `upload` with size and sha256).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import httpx

if TYPE_CHECKING:
    from chargers.charger import Charger


class TransferError(Exception):
    pass


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise TransferError(f"unsupported location {url!r} (http or https only)")


async def download(charger: Charger, url: str, timeout_s: float = 60.0) -> bytes:
    """GET `url`; the body, or TransferError."""
    try:
        _check_scheme(url)
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as http:
            response = await http.get(url)
    except (httpx.HTTPError, TransferError) as err:
        charger.journal.write("download", url=url, ok=False, error=repr(err)[:200])
        raise TransferError(str(err)) from err
    ok = response.is_success
    charger.journal.write(
        "download",
        url=url,
        ok=ok,
        http=response.status_code,
        bytes=len(response.content),
        sha256=hashlib.sha256(response.content).hexdigest(),
    )
    if not ok:
        raise TransferError(f"GET {url}: HTTP {response.status_code}")
    return response.content


def upload_method(charger: Charger, url: str) -> str:
    asked = parse_qs(urlsplit(url).query).get("method", [""])[0].lower()
    if asked in ("put", "post"):
        return asked
    configured = charger.config.behaviour.upload_method
    return configured if configured in ("put", "post") else "put"


def named_url(url: str, file_name: str) -> str:
    """The location taken as a directory: `file_name` appended to its path."""
    parts = urlsplit(url)
    return parts._replace(path=f"{parts.path.rstrip('/')}/{quote(file_name)}").geturl()


def _put_headers(charger: Charger, file_name: str) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream"}
    if charger.config.behaviour.upload_name == "header":
        headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return headers


async def upload(
    charger: Charger, url: str, file_name: str, content: bytes, timeout_s: float = 60.0
) -> None:
    """PUT or POST `content` to `url`; raises TransferError unless the server says 2xx."""
    method = upload_method(charger, url)
    if method == "put" and charger.config.behaviour.upload_name == "path":
        url = named_url(url, file_name)
    record = {
        "url": url,
        "method": method.upper(),
        "file": file_name,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    try:
        _check_scheme(url)
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            if method == "post":
                files = {"file": (file_name, content, "application/octet-stream")}
                response = await http.post(url, files=files)
            else:
                response = await http.put(
                    record["url"], content=content, headers=_put_headers(charger, file_name)
                )
    except (httpx.HTTPError, TransferError) as err:
        charger.journal.write("upload", **record, ok=False, error=repr(err)[:200])
        raise TransferError(str(err)) from err
    charger.journal.write("upload", **record, ok=response.is_success, http=response.status_code)
    if not response.is_success:
        raise TransferError(f"{method.upper()} {url}: HTTP {response.status_code}")
