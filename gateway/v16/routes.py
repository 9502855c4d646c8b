"""OCPP 1.6J route table: charger-initiated action -> handler."""

from __future__ import annotations

from gateway.connection import Handler
from gateway.v16 import provisioning, transactions

ROUTES: dict[str, Handler] = {
    "Authorize": transactions.authorize,
    "BootNotification": provisioning.boot_notification,
    "DataTransfer": provisioning.data_transfer,
    "DiagnosticsStatusNotification": provisioning.diagnostics_status,
    "FirmwareStatusNotification": provisioning.firmware_status,
    "Heartbeat": provisioning.heartbeat,
    "LogStatusNotification": provisioning.log_status,
    "SecurityEventNotification": provisioning.security_event,
    "SignCertificate": provisioning.sign_certificate,
    "SignedFirmwareStatusNotification": provisioning.signed_firmware_status,
    "MeterValues": transactions.meter_values,
    "StartTransaction": transactions.start_transaction,
    "StatusNotification": provisioning.status_notification,
    "StopTransaction": transactions.stop_transaction,
}
