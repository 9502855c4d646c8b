"""A bounded schemathesis run (a few hundred generated requests, valid and invalid) against the
real app on 127.0.0.1, as an admin key, a driver's token and anonymously: no server error.

The full run (every default check, > 5,000 cases) is documented in docs/security.md."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from api import login_sessions
from api.main import create_app
from tests.access.live import serve
from tests.conftest import ADMIN_KEY

pytest.importorskip("schemathesis")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES_PER_OPERATION = 2


async def _run(url: str, header: str, *extra: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "-H",
        header,
        "--phases",
        "fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--checks",
        "not_a_server_error",
        "--no-shrink",
        "--workers",
        "1",
        "--seed",
        "20261205",
        "--request-timeout",
        "30",
        "--exclude-path",
        "/live",  # an endless event stream
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


async def test_generated_requests_find_no_server_error(
    settings, database_url, temporal_client, seeded, worker
):
    with seeded.session() as session:
        driver = login_sessions.start_session(session, settings, "driver", 1, "driver")
    app = create_app(settings, database_url, temporal=temporal_client)
    async with app.router.lifespan_context(app), serve(app) as url:
        runs = {
            "admin": await _run(url, f"X-API-Key: {ADMIN_KEY}"),
            "driver": await _run(
                url,
                f"Authorization: Bearer {driver.access_token}",
                "--exclude-path",
                "/auth/logout-all",  # would sign the fuzzing driver out
            ),
            "anonymous": await _run(url, "X-Request-Id: schemathesis"),
        }
    total = 0
    for who, (code, output) in runs.items():
        assert "Server error" not in output and code == 0, f"as {who}:\n{output[-4000:]}"
        generated = re.search(r"(\d+) generated", output)
        assert generated, output[-2000:]
        total += int(generated.group(1))
    print(f"schemathesis: {total} generated requests, no server error")
    assert total >= 300, total
