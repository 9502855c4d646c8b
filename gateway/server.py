"""The gateway process: a WebSocket server at `ws://HOST:PORT/ocpp/{station_id}`."""

from __future__ import annotations

import asyncio
import http
import logging
from asyncio import FIRST_COMPLETED
from datetime import UTC, datetime

from temporalio.client import Client
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.protocol import State

from gateway import events
from gateway import metrics as gateway_metrics
from gateway.command_worker import build_command_worker, gateway_task_queue
from gateway.connection import StationConnection
from gateway.live_listener import LiveListener
from gateway.local_list_listener import LocalListListener
from gateway.maintenance_listener import MaintenanceListener
from gateway.protocol import OCPP16, SUBPROTOCOLS
from gateway.recorder import Recorder
from gateway.services import GatewayServices
from gateway.session_bridge import SessionBridge
from gateway.session_listener import SessionListener
from gateway.site_load_listener import SiteLoadListener
from gateway.station_auth import Refusal, StationAuthenticator, station_id_from_path
from gateway.station_store import StationStore
from gateway.tls import peer_common_name, server_context
from gateway.versions import ROUTES_BY_VERSION
from runtime.settings import Settings

log = logging.getLogger(__name__)


def offered_subprotocols(headers: Headers) -> list[str]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(part.strip() for part in value.split(",") if part.strip())
    return offered


class Gateway:
    """Owns the WebSocket server and everything a station connection needs."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        database_url: str,
        task_queue: str,
        command_queue: str | None = None,
    ):
        self.settings = settings
        self._background: set[asyncio.Task] = set()
        self.command_queue = command_queue or gateway_task_queue()
        self.store = StationStore(database_url)
        self.recorder = Recorder(self.store.recording)
        self.bridge = SessionBridge(client, self.store, settings, task_queue)
        self.services = GatewayServices(settings, self.store, self.recorder, self.bridge)
        self.authenticator = StationAuthenticator.from_settings(self.store, settings)
        self.services.events.subscribe(SessionListener(self.store, self.bridge.outbox))
        # A rebooted charger gets its local authorization list back at once.
        self.services.events.subscribe(
            LocalListListener(client, self.store, task_queue, settings.local_list_retry_s)
        )
        self.maintenance = MaintenanceListener(client, self.services, task_queue)
        self.services.events.subscribe(self.maintenance)
        self.live = LiveListener(client, self.services, task_queue)
        self.services.events.subscribe(self.live)
        # Smart charging: the SiteLoad workflows of managed sites follow their stations.
        self.site_load = SiteLoadListener(client, self.services, task_queue)
        self.services.events.subscribe(self.site_load)
        self._server: Server | None = None
        self._tls_server: Server | None = None
        self._command_worker = build_command_worker(client, self.services, self.command_queue)
        self._command_task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def tls_port(self) -> int | None:
        return self._tls_server.sockets[0].getsockname()[1] if self._tls_server else None

    async def start(
        self, host: str | None = None, port: int | None = None, tls_port: int | None = None
    ) -> None:
        """Listen on ws:// (and wss:// when a certificate is configured)."""
        await self.store.open()
        self.recorder.start()
        self.bridge.outbox.start()  # and adopt what a dead gateway left undelivered
        self._command_task = asyncio.create_task(self._command_worker.run(), name="commands")
        self._metrics_server = gateway_metrics.start(self.services)
        host = host or self.settings.gateway_host
        options = {
            "process_request": self._process_request,
            "select_subprotocol": self._select_subprotocol,
            "max_size": self.settings.gateway_max_frame_bytes,
            "ping_interval": self.settings.gateway_ping_interval_s,
            "ping_timeout": self.settings.gateway_ping_timeout_s,
            "compression": None,
            # asyncio's default listen queue (100) overflows in a reconnect storm: dropped SYNs
            # come back only after the client's 1 s retransmission. The kernel caps it at
            # net.core.somaxconn.
            "backlog": 4096,
            "reuse_port": self.settings.gateway_reuse_port,
        }
        self._server = await serve(
            self._handle, host, self.settings.gateway_port if port is None else port, **options
        )
        log.info("OCPP gateway listening on ws://%s:%d/ocpp/{station_id}", host, self.port)
        settings = self.settings
        if settings.gateway_tls_cert_file and settings.gateway_tls_key_file:
            context = server_context(
                settings.gateway_tls_cert_file,
                settings.gateway_tls_key_file,
                settings.gateway_tls_client_ca_file,
                settings.gateway_tls_rsa_cert_file,
                settings.gateway_tls_rsa_key_file,
            )
            self._tls_server = await serve(
                self._handle,
                host,
                settings.gateway_tls_port if tls_port is None else tls_port,
                ssl=context,
                **options,
            )
            log.info("OCPP gateway listening on wss://%s:%d/ocpp/{station_id}", host, self.tls_port)

    async def stop(self) -> None:
        """Close every socket with 1001 (chargers reconnect elsewhere) and flush the queues."""
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close(close_connections=True)
                await server.wait_closed()
        if self._command_task is not None:
            await self._command_worker.shutdown()
        await self.maintenance.close()
        await self.bridge.close()
        await self.live.close()
        await self.site_load.close()
        await self.authenticator.close()
        gateway_metrics.stop(self._metrics_server)
        await self.recorder.close()
        await self.store.close()

    async def serve_forever(self) -> None:
        try:
            await self.start()  # a port taken: what did start (the command worker) stops too
            await asyncio.Future()
        finally:
            await self.stop()

    # ---- handshake ---------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request):
        station_id = station_id_from_path(request.path)
        peer = _peer(connection)
        if station_id is None:
            log.warning("refused %s: path %r is not /ocpp/{station_id}", peer, request.path)
            gateway_metrics.handshake_refused(http.HTTPStatus.NOT_FOUND)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Use /ocpp/{station_id}\n")
        ssl_object = connection.transport.get_extra_info("ssl_object")
        result = await self.authenticator.authenticate(
            station_id,
            request.headers.get("Authorization"),
            secure=ssl_object is not None,
            client_cert_cn=peer_common_name(ssl_object),
            address=_address(connection),
        )
        if isinstance(result, Refusal):
            log.warning("refused station %s from %s: %s", station_id, peer, result.reason)
            gateway_metrics.handshake_refused(result.status)
            if result.status != http.HTTPStatus.TOO_MANY_REQUESTS:  # locked: no row per attempt
                await self.store.record_event(
                    station_id, "HandshakeRefused", {"reason": result.reason, "peer": peer}
                )
            response = connection.respond(http.HTTPStatus(result.status), result.reason + "\n")
            if result.retry_after_s is not None:
                response.headers["Retry-After"] = str(result.retry_after_s)
            return response
        offered = offered_subprotocols(request.headers)
        allowed = [v for v in result.ocpp_versions if v in SUBPROTOCOLS]
        chosen = next((v for v in offered if v in allowed and v in ROUTES_BY_VERSION), None)
        if chosen is None and not offered and self.settings.gateway_assume_ocpp16:
            chosen = OCPP16 if OCPP16 in allowed else None
            connection.ampflow_no_subprotocol = True  # type: ignore[attr-defined]
        if chosen is None:
            reason = f"no supported OCPP subprotocol offered (offered {offered}, allowed {allowed})"
            log.warning("refused station %s: %s", station_id, reason)
            gateway_metrics.handshake_refused(http.HTTPStatus.BAD_REQUEST)
            await self.store.record_event(station_id, "HandshakeRefused", {"reason": reason})
            return connection.respond(http.HTTPStatus.BAD_REQUEST, reason + "\n")
        connection.ampflow_station = (station_id, chosen)  # type: ignore[attr-defined]
        connection.ampflow_registration = result.registration_status  # type: ignore[attr-defined]
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered):
        if getattr(connection, "ampflow_no_subprotocol", False):
            return None
        return connection.ampflow_station[1]  # type: ignore[attr-defined]

    # ---- the connection ------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        station_id, version = ws.ampflow_station  # type: ignore[attr-defined]
        conn = StationConnection(station_id, version, ws, self.services, ROUTES_BY_VERSION[version])
        conn.registration_status = ws.ampflow_registration  # type: ignore[attr-defined]
        # Take the station over *before* an older socket closes, so the older one's cleanup
        # sees it is no longer current and neither marks the station offline nor says so.
        previous = self.services.connections.get(station_id)
        self.services.connections[station_id] = conn
        if previous is not None:
            conn.predecessor = previous
            retiring = asyncio.create_task(self._retire_predecessors(conn), name="retire")
            self._background.add(retiring)
            retiring.add_done_callback(self._background.discard)
        taken_over = await self.store.set_connected(
            station_id, datetime.now(UTC), self.command_queue, version
        )
        log.info("%s connected (%s) from %s", station_id, version, _peer(ws))
        await self.services.events.publish(events.Connected(station_id, datetime.now(UTC), version))
        try:
            await conn.run()
        finally:
            log.info("%s disconnected (code %s)", station_id, ws.close_code)
            if self.services.connections.get(station_id) is conn and not conn.spoke:
                await self._fall_back_to_predecessor(conn)
            if self.services.connections.get(station_id) is conn:
                del self.services.connections[station_id]
                if taken_over is not None and not conn.spoke:
                    # Taken from another gateway (another process on a shared port, say) and
                    # closed without a frame: the socket there carries on, give its route back.
                    log.info("%s: a socket closed without a message; route handed back", station_id)
                    await self.store.hand_back(station_id, self.command_queue, taken_over)
                    owned = False
                else:
                    # Only the gateway that owns the station's route may say it is offline: a
                    # half-open socket's late close must not undo a move to another gateway.
                    owned = await self.store.set_disconnected(
                        station_id, datetime.now(UTC), self.command_queue
                    )
                successor = self.services.connections.get(station_id)
                if successor is not None:
                    # The station reconnected here meanwhile, and its route may have been
                    # written before this one was cleared: write it again. Not offline.
                    await self.store.set_connected(
                        station_id, datetime.now(UTC), self.command_queue, successor.version
                    )
                elif owned:
                    await self.services.events.publish(
                        events.Disconnected(station_id, datetime.now(UTC), ws.close_code)
                    )

    async def _retire_predecessors(self, conn: StationConnection) -> None:
        """Close the station's older sockets once `conn` speaks or outlives the grace period."""
        grace = self.settings.gateway_takeover_grace_s
        spoken = asyncio.ensure_future(conn.wait_spoken())
        closed = asyncio.ensure_future(conn.ws.wait_closed())
        try:
            await asyncio.wait({spoken, closed}, timeout=grace, return_when=FIRST_COMPLETED)
        finally:
            spoken.cancel()
            closed.cancel()
        if conn.ws.state is not State.OPEN:
            return  # gone before it proved itself: the older socket carries on (see _handle)
        previous, conn.predecessor = conn.predecessor, None
        while previous is not None:
            previous.retired = True
            if previous.ws.state is State.OPEN:
                log.info("%s reconnected; closing its previous socket", conn.station_id)
                await previous.ws.close(1000, "replaced by a new connection")
            older, previous.predecessor = previous.predecessor, None
            previous = older

    async def _fall_back_to_predecessor(self, conn: StationConnection) -> None:
        """A socket that closed without a frame hands the station back to its open predecessor."""
        previous = conn.open_predecessor()
        if previous is None:
            return
        log.info(
            "%s: a second socket closed without a message; the previous one stays", conn.station_id
        )
        self.services.connections[conn.station_id] = previous
        await self.store.set_connected(
            conn.station_id, datetime.now(UTC), self.command_queue, previous.version
        )


def _address(connection: ServerConnection) -> str:
    """The client's IP address (what failed handshakes are also counted by)."""
    address = connection.remote_address
    return str(address[0]) if address else "?"


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
