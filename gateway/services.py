"""What every station connection shares: settings, store, recorder, session bridge, registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.events import EventBus
from gateway.recorder import Recorder
from gateway.session_bridge import SessionBridge
from gateway.station_store import StationStore
from runtime.settings import Settings

if TYPE_CHECKING:
    from gateway.connection import StationConnection


@dataclass(eq=False)
class GatewayServices:
    settings: Settings
    store: StationStore
    recorder: Recorder
    bridge: SessionBridge
    events: EventBus = field(default_factory=EventBus)
    connections: dict[str, StationConnection] = field(default_factory=dict)
