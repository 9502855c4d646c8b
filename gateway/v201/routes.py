"""OCPP 2.0.1 route table: charger-initiated action -> handler.

ISO 15118 contract certificates (Get15118EVCertificate, GetCertificateStatus) are answered
`Failed` with a reason (`gateway/v201/security.py`): Plug & Charge is not offered yet, and a
made-up answer would mislead the EV. Deliberately absent, so answered with a NotSupported
CALLERROR by the connection: actions only the CSMS sends (Reset, RequestStartTransaction, ...).

The reports chargers send after an operator's request (NotifyMonitoringReport,
NotifyDisplayMessages, NotifyCustomerInformation, ReportChargingProfiles,
PublishFirmwareStatusNotification) are stored by `gateway/v201/reports.py`.
"""

from __future__ import annotations

from gateway.connection import Handler
from gateway.v201 import (
    authorization,
    availability,
    data_transfer,
    diagnostics,
    firmware,
    metering,
    provisioning,
    reports,
    reservation,
    security,
    smart_charging,
    transactions,
)

ROUTES: dict[str, Handler] = {
    "Authorize": authorization.authorize,
    "BootNotification": provisioning.boot_notification,
    "ClearedChargingLimit": smart_charging.cleared_charging_limit,
    "DataTransfer": data_transfer.data_transfer,
    "FirmwareStatusNotification": firmware.firmware_status,
    "Get15118EVCertificate": security.get_15118_ev_certificate,
    "GetCertificateStatus": security.get_certificate_status,
    "Heartbeat": availability.heartbeat,
    "LogStatusNotification": diagnostics.log_status,
    "MeterValues": metering.meter_values,
    "NotifyChargingLimit": smart_charging.notify_charging_limit,
    "NotifyEVChargingNeeds": smart_charging.notify_ev_charging_needs,
    "NotifyEVChargingSchedule": smart_charging.notify_ev_charging_schedule,
    "NotifyEvent": diagnostics.notify_event,
    "NotifyCustomerInformation": reports.notify_customer_information,
    "NotifyDisplayMessages": reports.notify_display_messages,
    "NotifyMonitoringReport": reports.notify_monitoring_report,
    "NotifyReport": provisioning.notify_report,
    "PublishFirmwareStatusNotification": reports.publish_firmware_status,
    "ReportChargingProfiles": reports.report_charging_profiles,
    "ReservationStatusUpdate": reservation.reservation_status,
    "SecurityEventNotification": security.security_event,
    "SignCertificate": security.sign_certificate,
    "StatusNotification": availability.status_notification,
    "TransactionEvent": transactions.transaction_event,
}
