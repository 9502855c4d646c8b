"""Secrets kept in the data dir, created once: the first process to write one wins."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_or_create(path: Path, make: str) -> str:
    """The file's text; if it does not exist yet, `make` written atomically (mode 0600). Several
    processes starting together on a fresh data dir (gateways sharing a port, the chaos suite's
    roles) all read the one that was written first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            os.write(fd, make.encode())
            os.close(fd)
            os.chmod(tmp, 0o600)
            os.link(tmp, path)  # fails if another process won the race: use theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
