"""All runtime settings, read from `AMPFLOW_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Ampflow settings; every field can be set as `AMPFLOW_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AMPFLOW_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path(".ampflow")
    database_url: str | None = None  # unset: embedded PostgreSQL under data_dir
    temporal_address: str | None = None  # unset: Temporal dev server on temporal_port
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "ampflow-sessions"
    # Payload codec keys: `id:base64key,…` (AES-256, newest first); unset: a key generated
    # once in data_dir. The Temporal UI's origin may call the API's /codec (CORS).
    temporal_codec_keys: str | None = None
    temporal_ui_url: str | None = None  # unset: the dev UI, http://127.0.0.1:{ui port}

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 9000
    # Several gateway processes on one host share the ports (SO_REUSEPORT, Linux): the kernel
    # spreads new connections over them; each process is a gateway of its own (command queue,
    # metrics port).
    gateway_reuse_port: bool = False
    gateway_max_frame_bytes: int = 65536
    gateway_ping_interval_s: float = 30.0
    gateway_ping_timeout_s: float = 30.0
    # A charger that sends no Sec-WebSocket-Protocol is treated as OCPP 1.6 (common in the field).
    gateway_assume_ocpp16: bool = True
    # TLS listener for security profiles 2 (TLS + Basic auth) and 3 (TLS client certificates).
    gateway_tls_port: int = 9443
    gateway_tls_cert_file: Path | None = None  # unset: no TLS listener
    gateway_tls_key_file: Path | None = None
    gateway_tls_client_ca_file: Path | None = None  # CA that signs station certificates
    # A second server certificate, RSA, for stations limited to the RSA suites (A00.FR.318).
    gateway_tls_rsa_cert_file: Path | None = None
    gateway_tls_rsa_key_file: Path | None = None
    # The operator's CA that signs stations' CSRs (SignCertificate -> CertificateSigned); unset:
    # an embedded CA generated once under data_dir/station_ca. Its certificates last this long.
    station_ca_cert_file: Path | None = None
    station_ca_key_file: Path | None = None
    station_certificate_validity_days: int = 365
    # Unknown stations: refused (default), or admitted as Pending into the operator inbox.
    gateway_admit_unknown_stations: bool = False
    gateway_idle_timeout_s: float = 0  # no frame for this long closes the socket; 0: 2 heartbeats
    # A second socket under a connected station's id takes over commands at once, but the first
    # is closed only once the newcomer sends a frame or has stayed this long: one that closes
    # silently (a probe, a half-finished reconnect) leaves the station on its working socket.
    gateway_takeover_grace_s: float = 10.0
    gateway_rate_limit_per_s: float = 20.0  # sustained CALLs per station per second
    gateway_rate_burst: int = 60
    # Failed handshakes (docs/security.md "Station passwords"): this many within the window, per
    # station id or per client address, lock it for the lockout, doubled at each repeat up to the
    # max; successful handshakes never count.
    gateway_handshake_max_failures: int = 5  # per station id
    gateway_handshake_ip_max_failures: int = 30  # per client address
    gateway_handshake_window_s: int = 300
    gateway_handshake_lockout_s: int = 30
    gateway_handshake_lockout_max_s: int = 3600
    # Unknown stations admitted as Pending (with admit_unknown): per address and in total.
    gateway_admit_unknown_ip_max: int = 5  # per client address within the window
    gateway_admit_unknown_max: int = 100  # in total within the window (all gateways)
    gateway_admit_unknown_window_s: int = 3600
    heartbeat_interval_s: int = 300

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_api_key: str | None = None
    public_url: str | None = None  # how chargers and drivers reach the API; default from host/port

    demo_station_password: str = "demo-station-secret-16"  # 16-40 characters (OCPP)
    # HMAC key ("pepper") of station password hashes; unset: derived from admin_api_key, else
    # kept in data_dir. Older peppers (comma-separated) still verify, rehashed at next login.
    station_password_pepper: str | None = None
    station_password_old_peppers: str = ""

    # The charger's answer never waits without bound (ADR-005): Authorize and transaction start
    # wait this long for the session workflow, then are answered from the fallback decision.
    charger_answer_deadline_s: float = 5.0
    # Transaction starts that may wait on Temporal at once per gateway; past it Temporal is
    # behind, and a start is answered from the fallback decision at once and delivered by the
    # outbox (a burst of chargers is not held for the whole deadline).
    charger_starts_waiting_max: int = 32
    # Start updates the station outbox has in flight on Temporal at once per gateway (starts
    # answered from the fallback, delivered later); the next one waits its turn. While all are
    # taken, a new start is answered from the fallback at once too.
    outbox_starts_in_flight_max: int = Field(default=16, ge=1)
    # `ampflow dev` runs the session path (the worker and the Temporal dev server) at this
    # niceness: on one shared host the gateway's answers to chargers get the CPU first.
    session_path_nice: int = Field(default=10, ge=0, le=19)

    # Session guards (seconds).
    authorization_timeout_s: int = 180  # authorized (or remote-started) but never started
    max_session_s: int = 72 * 3600  # "eternal" session guard: remote stop, then close
    session_offline_close_s: int = 3600  # charger offline this long: close, flag, reconcile
    remote_stop_grace_s: int = 120  # wait this long for the charger's stop after a remote stop
    reconcile_window_s: int = 7 * 24 * 3600  # keep waiting this long for a late stop
    cost_update_interval_s: int = 60  # push the running cost to 2.0.1 chargers (0 = never)
    # Tell 1.6 chargers the final price (DataTransfer FinalCost, OCA California Pricing);
    # only for chargers that implement it (CustomDisplayCostAndPrice true).
    final_cost_16: bool = False
    session_history_limit: int = 10_000  # a session continues-as-new past this many events
    meter_signal_interval_s: float = 2.0  # at most one meter signal per session per interval
    # Site load management: at most one rebalance on meter readings per interval (0.5 to 10 s).
    site_load_rebalance_s: float = Field(default=5.0, ge=0.5, le=10.0)

    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None  # whsec_...: webhooks are refused without it
    stripe_max_network_retries: int = 2  # SDK retries (same idempotency key) on network errors
    # Card holds at authorize: the price of this much charging, clamped to [min, max].
    payment_hold_energy_wh: int = 50_000
    payment_hold_duration_s: int = 4 * 3600
    payment_hold_min: int = 1_000  # minor units
    payment_hold_max: int = 15_000
    # A guest's payment link (`/pay/...`) that no session took up (the webhook never arrived,
    # the start never happened) is released by the AlertSweep this long after it was created.
    guest_hold_release_after_s: int = 900
    ledger_credit_limit: int | None = None  # default per driver (None: unlimited)
    # Receipts: operator details, and e-mail when smtp_host is set.
    operator_name: str = "Ampflow"
    operator_address: str = ""
    operator_vat_id: str = ""
    operator_email: str = ""
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "receipts@ampflow.invalid"
    smtp_starttls: bool = False

    # Access control: accounts, tokens, brute-force limits, local lists (docs/access.md).
    auth_secret: str | None = None  # HMAC key of access tokens; unset: derived (api/security.py)
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    password_reset_ttl_s: int = 3600
    login_max_failures: int = 5  # per account within login_window_s, then locked
    login_ip_max_failures: int = 50  # per client IP within login_window_s, then locked
    login_window_s: int = 900
    login_lockout_s: int = 900
    authorize_max_invalid: int = 20  # refused idTags per station within authorize_window_s
    authorize_window_s: int = 300
    authorize_lockout_s: int = 300
    local_list_retry_s: int = 300  # how often a list sync retries an offline station

    # Remote maintenance: diagnostics uploads, firmware repository, self-healing playbook.
    diagnostics_max_bytes: int = 50 * 1024 * 1024  # largest diagnostics/log upload accepted
    diagnostics_upload_ttl_s: int = 24 * 3600  # a one-time upload URL expires after this
    firmware_max_bytes: int = 256 * 1024 * 1024  # largest firmware image accepted
    healing_enabled: bool = True  # start SelfHealing for faulted or silent stations
    healing_steps: str = "probe,soft_reset,hard_reset,alert"  # the playbook, in order
    healing_silent_after_s: int = 900  # connected, yet nothing heard this long: silent
    healing_sweep_interval_s: float = 60.0  # how often a gateway looks for silent stations
    healing_settle_s: float = 120.0  # after a step, wait this long for the station to recover

    # Monitoring: live view, alerts, analytics, reports, metrics and logs (README "Monitoring").
    alert_sweep_interval_s: float = 60.0  # AlertSweep period; 0: gateways do not start it
    alert_offline_after_s: int = 300  # a station disconnected this long: station_offline
    alert_stuck_after_s: int = 900  # charging without a meter value this long: session_stuck
    alert_auth_failures: int = 5  # this many refused authorizations at a station …
    alert_auth_window_s: int = 600  # … within this window: auth_failures
    alert_webhook_url: str | None = None  # every alert change is POSTed here (JSON)
    alert_webhook_secret: str | None = None  # HMAC-SHA256 key of the X-Ampflow-Signature header
    alert_webhook_timeout_s: float = 5.0
    report_time_zone: str = "UTC"  # analytics buckets, the heatmap and the monthly report
    gateway_metrics_port: int = 0  # Prometheus /metrics of the gateway (0: off)
    worker_metrics_port: int = 0  # Temporal's runtime metrics of the worker (0: off)
    metrics_token: str | None = None  # set: the API's /metrics needs "Authorization: Bearer …"
    log_format: str = "text"  # text | json (one JSON object per line, with station/session ids)

    log_level: str = "INFO"

    def session_guards(self) -> dict[str, int]:
        """The guard fields of a `ChargingSession` input, from these settings."""
        return {
            "authorization_timeout_s": self.authorization_timeout_s,
            "max_session_s": self.max_session_s,
            "offline_close_s": self.session_offline_close_s,
            "remote_stop_grace_s": self.remote_stop_grace_s,
            "reconcile_window_s": self.reconcile_window_s,
            "cost_update_interval_s": self.cost_update_interval_s,
            "history_limit": self.session_history_limit,
        }

    @property
    def temporal_target(self) -> str:
        """The Temporal frontend address to connect to."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def api_base_url(self) -> str:
        """The public base URL of the API."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
