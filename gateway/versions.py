"""Which OCPP versions the gateway speaks: route tables and command translators per subprotocol."""

from __future__ import annotations

from collections.abc import Callable

from gateway.connection import Handler
from gateway.protocol import OCPP16
from gateway.v16.commands import COMMANDS as V16_COMMANDS
from gateway.v16.routes import ROUTES as V16_ROUTES

Translator = Callable[[dict], tuple[str, dict]]

ROUTES_BY_VERSION: dict[str, dict[str, Handler]] = {
    OCPP16: V16_ROUTES,
}

TRANSLATORS: dict[str, dict[str, Translator]] = {
    OCPP16: V16_COMMANDS,
}
