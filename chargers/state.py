"""What a charger keeps across reboots: configuration, local list, firmware, meters, profiles,
2.0.1 display messages and variable monitors.

Kept in memory, and in a small JSON file when the charger has a `state_file` (written
atomically after every change).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson


@dataclass
class LocalList:
    version: int = 0
    entries: dict[str, dict] = field(default_factory=dict)  # token -> {"status": ..., ...}


@dataclass
class PersistentState:
    firmware_version: str = ""
    configuration: dict[str, str] = field(default_factory=dict)  # key -> value (overrides)
    local_list: LocalList = field(default_factory=LocalList)
    auth_cache: dict[str, str] = field(default_factory=dict)  # token -> status
    meter_wh: dict[str, float] = field(default_factory=dict)  # connector -> register
    inoperative: list[int] = field(default_factory=list)  # connectors (0 = station)
    profiles: list[dict] = field(default_factory=list)  # installed charging profiles
    pending_firmware: dict | None = None  # an install that completes after the reboot
    display_messages: list[dict] = field(default_factory=list)  # 2.0.1 MessageInfo, by id
    monitors: list[dict] = field(default_factory=list)  # 2.0.1 variable monitors
    monitoring_level: int = 9  # 2.0.1: report monitor events of this severity or lower
    boots: int = 0

    @classmethod
    def load(cls, path: Path | None, firmware_version: str) -> PersistentState:
        if path is not None and path.exists():
            data = orjson.loads(path.read_bytes())
            data["local_list"] = LocalList(**data.get("local_list", {}))
            return cls(**data)
        return cls(firmware_version=firmware_version)

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
