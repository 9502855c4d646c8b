"""The configuration keys (1.6) and device model variables (2.0.1) a virtual charger has.

Both versions map some of their variables onto neutral names the charger reads
(`heartbeat_s`, `meter_interval_s`, ...), so behaviour follows whatever the CSMS sets.
2.0.1 variables are keyed `Component/Variable`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Variable:
    key: str
    default: str
    kind: str = "int"  # int | bool | str | list
    readonly: bool = False
    neutral: str | None = None
    reboot: bool = False  # a change takes effect after a reboot (2.0.1 RebootRequired)
    write_only: bool = False  # set by the CSMS, never read back (e.g. AuthorizationKey)


def _v(
    key, default, kind="int", readonly=False, neutral=None, reboot=False, write_only=False
) -> Variable:
    return Variable(key, default, kind, readonly, neutral, reboot, write_only)


_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"

V16_KEYS = [
    _v("AllowOfflineTxForUnknownId", "false", "bool"),
    _v("AuthorizationCacheEnabled", "true", "bool", neutral="cache_enabled"),
    _v("AuthorizationKey", "", "str", write_only=True),  # security profile 1/2 password
    _v("AuthorizeRemoteTxRequests", "false", "bool", neutral="authorize_remote"),
    _v("ChargeProfileMaxStackLevel", "10", readonly=True),
    _v("ChargingScheduleAllowedChargingRateUnit", "Current,Power", "list", readonly=True),
    _v("ChargingScheduleMaxPeriods", "24", readonly=True),
    _v("ClockAlignedDataInterval", "0"),
    _v("ConnectionTimeOut", "60"),
    _v("GetConfigurationMaxKeys", "100", readonly=True),
    _v("HeartbeatInterval", "300", neutral="heartbeat_s"),
    _v("LocalAuthListEnabled", "true", "bool", neutral="local_list_enabled"),
    _v("LocalAuthListMaxLength", "1000", readonly=True),
    _v("LocalAuthorizeOffline", "true", "bool", neutral="local_auth_offline"),
    _v("LocalPreAuthorize", "false", "bool", neutral="local_pre_authorize"),
    _v("MaxChargingProfilesInstalled", "20", readonly=True),
    _v("MeterValueSampleInterval", "60", neutral="meter_interval_s"),
    _v("MeterValuesAlignedData", "Energy.Active.Import.Register", "list"),
    _v("MeterValuesSampledData", _MEASURANDS, "list", neutral="measurands"),
    _v("NumberOfConnectors", "1", readonly=True),
    _v("ResetRetries", "3"),
    _v("SendLocalListMaxLength", "1000", readonly=True),
    _v("StopTransactionOnEVSideDisconnect", "true", "bool"),
    _v("StopTransactionOnInvalidId", "true", "bool", neutral="stop_on_invalid"),
    _v("StopTxnAlignedData", "", "list"),
    _v("StopTxnSampledData", "Energy.Active.Import.Register", "list"),
    _v(
        "SupportedFeatureProfiles",
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        "list",
        readonly=True,
    ),
    _v("TransactionMessageAttempts", "3", neutral="tx_attempts"),
    _v("TransactionMessageRetryInterval", "10", neutral="tx_retry_s"),
    _v("UnlockConnectorOnEVSideDisconnect", "true", "bool"),
    _v("WebSocketPingInterval", "0"),
]

V201_VARIABLES = [
    _v("AuthCacheCtrlr/Enabled", "true", "bool", neutral="cache_enabled"),
    _v("AuthCtrlr/AuthorizeRemoteStart", "false", "bool", neutral="authorize_remote"),
    _v("AuthCtrlr/Enabled", "true", "bool"),
    _v("AuthCtrlr/LocalAuthorizeOffline", "true", "bool", neutral="local_auth_offline"),
    _v("AuthCtrlr/LocalPreAuthorize", "false", "bool", neutral="local_pre_authorize"),
    _v("ChargingStation/AvailabilityState", "Available", "str", readonly=True),
    _v("ClockCtrlr/TimeSource", "Heartbeat", "list"),
    _v("DeviceDataCtrlr/ItemsPerMessage", "100", readonly=True),
    _v("LocalAuthListCtrlr/Enabled", "true", "bool", neutral="local_list_enabled"),
    _v("LocalAuthListCtrlr/Entries", "0", readonly=True),
    _v("LocalAuthListCtrlr/ItemsPerMessage", "100", readonly=True),
    _v("LocalAuthListCtrlr/BytesPerMessage", "65536", readonly=True),
    _v("OCPPCommCtrlr/HeartbeatInterval", "300", neutral="heartbeat_s"),
    _v("OCPPCommCtrlr/MessageAttemptsTransactionEvent", "3", neutral="tx_attempts"),
    _v("OCPPCommCtrlr/MessageAttemptIntervalTransactionEvent", "10", neutral="tx_retry_s"),
    _v("OCPPCommCtrlr/MessageTimeout", "30"),
    _v("OCPPCommCtrlr/NetworkProfileConnectionAttempts", "3"),
    _v("OCPPCommCtrlr/OfflineThreshold", "60"),
    _v("OCPPCommCtrlr/ResetRetries", "3"),
    _v("SampledDataCtrlr/Enabled", "true", "bool"),
    _v("SampledDataCtrlr/TxEndedMeasurands", "Energy.Active.Import.Register", "list"),
    _v("SampledDataCtrlr/TxStartedMeasurands", "Energy.Active.Import.Register", "list"),
    _v("SampledDataCtrlr/TxUpdatedInterval", "60", neutral="meter_interval_s"),
    _v("SampledDataCtrlr/TxUpdatedMeasurands", _MEASURANDS, "list", neutral="measurands"),
    _v("SecurityCtrlr/BasicAuthPassword", "", "str", write_only=True),  # set by the CSMS
    _v("SecurityCtrlr/Identity", "", "str", readonly=True),
    _v("SecurityCtrlr/OrganizationName", "Ampflow", "str"),
    _v("SecurityCtrlr/SecurityProfile", "1", readonly=True),
    _v("SmartChargingCtrlr/Enabled", "true", "bool"),
    _v("SmartChargingCtrlr/ProfileStackLevel", "10", readonly=True),
    _v("SmartChargingCtrlr/PeriodsPerSchedule", "24", readonly=True),
    _v("SmartChargingCtrlr/RateUnit", "A,W", "list", readonly=True),
    _v("TxCtrlr/EVConnectionTimeOut", "60"),
    _v("TxCtrlr/StopTxOnEVSideDisconnect", "true", "bool"),
    _v("TxCtrlr/StopTxOnInvalidId", "true", "bool", neutral="stop_on_invalid"),
    _v("TxCtrlr/TxStartPoint", "PowerPathClosed", "list", reboot=True),
    _v("TxCtrlr/TxStopPoint", "EVConnected,Authorized", "list", reboot=True),
]


def table(v201: bool) -> dict[str, Variable]:
    return {v.key: v for v in (V201_VARIABLES if v201 else V16_KEYS)}


def valid(variable: Variable, value: str) -> bool:
    """Whether `value` is acceptable for `variable` (integers non-negative)."""
    if variable.kind == "int":
        return value.isdigit()
    if variable.kind == "bool":
        return value.lower() in ("true", "false")
    return len(value) <= 500


class Configuration:
    """A charger's configuration: defaults overlaid with the persisted values."""

    def __init__(self, v201: bool, values: dict[str, str], identity: dict[str, str]) -> None:
        self.table = table(v201)
        self.values = values  # the persisted overrides (shared with PersistentState)
        self.identity = identity  # read-only values given by the hardware
        self._neutral = {v.neutral: v.key for v in self.table.values() if v.neutral}

    def get(self, key: str) -> str | None:
        if key in self.identity:
            return self.identity[key]
        variable = self.table.get(key)
        if variable is None:
            return None
        return self.values.get(key, variable.default)

    def int_value(self, key: str) -> int:
        value = self.get(key) or "0"
        return int(value) if value.isdigit() else 0

    def number(self, neutral: str) -> float:
        return float(self.get(self._neutral[neutral]) or 0)

    def flag(self, neutral: str) -> bool:
        return (self.get(self._neutral[neutral]) or "").lower() == "true"

    def items(self, neutral: str) -> list[str]:
        return [x for x in (self.get(self._neutral[neutral]) or "").split(",") if x]

    def set(self, key: str, value: str) -> str:
        """Accepted | Rejected | NotSupported | RebootRequired."""
        variable = self.table.get(key)
        if variable is None:
            return "NotSupported"
        if variable.readonly or key in self.identity or not valid(variable, value):
            return "Rejected"
        self.values[key] = value
        return "RebootRequired" if variable.reboot else "Accepted"
