"""Which OCPP versions the gateway speaks: route tables and command translators per subprotocol."""

from __future__ import annotations

from collections.abc import Callable

from gateway.certificates import renew_certificate_16, renew_certificate_201
from gateway.connection import Handler
from gateway.protocol import OCPP16, OCPP201
from gateway.v16.commands import COMMANDS as V16_COMMANDS
from gateway.v16.local_list_commands import COMMANDS as V16_LOCAL_LIST
from gateway.v16.maintenance_commands import COMMANDS as V16_MAINTENANCE
from gateway.v16.routes import ROUTES as V16_ROUTES
from gateway.v16.smart_commands import COMMANDS as V16_SMART
from gateway.v201.commands import COMMANDS as V201_COMMANDS
from gateway.v201.device_commands import COMMANDS as V201_DEVICE
from gateway.v201.local_list_commands import COMMANDS as V201_LOCAL_LIST
from gateway.v201.maintenance_commands import COMMANDS as V201_MAINTENANCE
from gateway.v201.routes import ROUTES as V201_ROUTES
from gateway.v201.smart_commands import COMMANDS as V201_SMART

Translator = Callable[[dict], tuple[str, dict]]

ROUTES_BY_VERSION: dict[str, dict[str, Handler]] = {
    OCPP16: V16_ROUTES,
    OCPP201: V201_ROUTES,
}

TRANSLATORS: dict[str, dict[str, Translator]] = {
    OCPP16: V16_COMMANDS,
    OCPP201: V201_COMMANDS,
}

# Maintenance commands (diagnostics, logs, firmware, base report) live in their own modules.
TRANSLATORS[OCPP16] = {**TRANSLATORS[OCPP16], **V16_MAINTENANCE}
TRANSLATORS[OCPP201] = {**TRANSLATORS.get(OCPP201, {}), **V201_MAINTENANCE}

# Local authorization lists (SendLocalList, GetLocalListVersion).
TRANSLATORS[OCPP16] = {**TRANSLATORS[OCPP16], **V16_LOCAL_LIST}
TRANSLATORS[OCPP201] = {**TRANSLATORS[OCPP201], **V201_LOCAL_LIST}

# 2.0.1 function blocks answered by reports: monitoring, customer information, display
# messages, charging profile reports, firmware publishing (1.6 has none of them).
TRANSLATORS[OCPP201] = {**TRANSLATORS[OCPP201], **V201_DEVICE}

# Station certificates: ask for a new CSR (the operator's CA signs it, gateway/certificates.py).
TRANSLATORS[OCPP16] = {**TRANSLATORS[OCPP16], "renew_certificate": renew_certificate_16}
TRANSLATORS[OCPP201] = {**TRANSLATORS[OCPP201], "renew_certificate": renew_certificate_201}

# Smart charging: Set/ClearChargingProfile, GetCompositeSchedule (site load management).
TRANSLATORS[OCPP16] = {**TRANSLATORS[OCPP16], **V16_SMART}
TRANSLATORS[OCPP201] = {**TRANSLATORS[OCPP201], **V201_SMART}
