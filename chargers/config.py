"""What a virtual charger is (identity, hardware, version) and how it behaves (switchable)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Behaviour:
    """Field behaviours and failure switches; the defaults are a well-behaved charger."""

    # Connection: back-off between reconnects, and random drops (exponential, mean seconds).
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    drop_mean_s: float | None = None
    drop_offline_s: float = 10.0
    # Transaction messages: queued while offline and replayed; retried when unanswered.
    offline_queue: bool = True
    retry_transaction_messages: bool = True
    # Commands.
    auto_plug: bool = True  # a remote start finds the EV plugged in (else it waits for `plug`)
    accept_remote_start: bool = True
    # Maintenance failures (for rollout and job tests).
    download_fails: bool = False
    download_stalls: bool = False  # Downloading, then the download never ends
    install_fails: bool = False
    install_verification_fails: bool = False  # InstallVerificationFailed (2.0.1, signed 1.6)
    install_stalls: bool = False  # Installing, then nothing (no reboot)
    report_installing: bool = True  # False: no Installing before the reboot, Installed after
    signature: str = "verify"  # verify (checked with `cryptography`) | accept | reject
    upload_fails: bool = False
    upload_failures: int = 0  # the next N upload attempts fail (transient), then they work
    upload_stalls: bool = False  # Uploading, then nothing (the transfer hangs)
    upload_method: str = "auto"  # auto (the URL's ?method=, else PUT) | put | post
    upload_name: str = "header"  # a PUT names its file: header (Content-Disposition) | path | none
    # Meter faults: the register restarts from 0 after every reboot.
    meter_reset_on_reboot: bool = False
    # Vendor quirks seen in the field.
    meter_values_without_tx_id: bool = False  # 1.6: MeterValues lack transactionId
    transaction_id_zero: bool = False  # 1.6: messages of a not-yet-known transaction carry 0
    interval_energy: bool = False  # energy as Energy.Active.Import.Interval, not Register
    duplicate_message_ids: bool = False  # transaction messages sent twice with one id
    late_status_s: float = 0.0  # StatusNotification sent this many seconds late
    # Smart charging quirks: every SetChargingProfile refused; or accepted but not followed
    # (the EV keeps drawing what it wants: an overdrawing charger).
    reject_charging_profiles: bool = False
    ignore_charging_profiles: bool = False
    # TxProfiles refused, defaults taken (a charger that does not know the transaction yet
    # when the profile arrives, or has no TxProfile support).
    reject_tx_profiles: bool = False


@dataclass
class ChargerConfig:
    """Identity, hardware and protocol of one virtual charger."""

    station_id: str
    password: str
    url: str  # gateway base URL, e.g. ws://127.0.0.1:9000/ocpp (the station id is appended)
    # Further CSMS URLs in priority order: after a failed connect the next one is tried, as a
    # charger with several network profiles does (2.0.1 NetworkConfigurationPriority).
    backup_urls: tuple[str, ...] = ()
    version: str = "1.6"  # "1.6" or "2.0.1"
    connectors: int = 1  # 1.6 connectors / 2.0.1 EVSEs (one connector each)
    max_power_w: float = 11_000.0  # hardware limit per connector
    voltage_v: float = 230.0
    phases: int = 3
    vendor: str = "Ampflow"
    model: str = "Virtual"
    serial: str | None = None
    iccid: str | None = None  # the modem's SIM, reported at boot
    firmware_version: str = "1.0"
    meter_start_wh: float = 0.0
    speed: float = 1.0  # simulated seconds per real second (1 = real time)
    clock_skew_s: float = 0.0
    message_timeout_s: float = 30.0
    configuration: dict[str, str] = field(default_factory=dict)  # initial config values
    status_at_boot: bool = True  # StatusNotifications after every accepted boot
    strict: bool = True  # validate outgoing CALLs and incoming answers against the schemas
    state_file: Path | None = None  # configuration/device model etc., kept across reboots
    journal_file: Path | None = None  # the JSON-lines log (in memory only when None)
    journal_keep: int = 10_000  # events kept in memory
    ssl_context: ssl.SSLContext | None = None  # wss://: trusted CAs and a client certificate
    behaviour: Behaviour = field(default_factory=Behaviour)

    @property
    def v201(self) -> bool:
        return self.version == "2.0.1"
