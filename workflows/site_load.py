"""`SiteLoad`: one long-running workflow per managed site (`site-load-{site}`) that shares the
site's grid connection among its EVs and tells the chargers with charging profiles.

Signals (from the gateway's site-load listener and the API): session started/stopped,
connector status, coalesced meter readings, station connected/disconnected, limits changed,
2.0.1 EV charging needs. A start, stop, status, link or limit change rebalances at once; meter
readings at most once per `rebalance_s`; a timer rebalances at every scheduled limit change
and when a temporary station limit ends. Each rebalance runs the pure `domain.site_load.allocate`
and sends a profile only where a connector's schedule changed (`domain.site_load_profiles`).

A charger that refuses our profiles, is offline, or draws clearly more than allowed twice in a
row is counted at its last allowed current (else its maximum) and left out of sharing; a
refusal or an overdraw raises an alert. The `allocation` query answers the live view with the
reason for every connector. The site's limits removed: our profiles are cleared and it ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.monitoring_activities import MonitoringActivities
    from activities.site_load_activities import SiteLoadActivities
    from domain import site_load as sl
    from domain import site_load_profiles as profiles
    from domain.alerts import AlertCause, AlertRaise, AlertResolve, alert_key
    from domain.site_load_messages import (
        ConnectorState,
        ConnectorView,
        EvNeeds,
        LimitsChanged,
        LinkSignal,
        MeterBatch,
        Renegotiate,
        SessionSignal,
        SiteLoadInput,
        SiteLoadView,
        SiteSnapshot,
        StatusSignal,
    )

from workflows.site_load_commands import Sender

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10)),
}
_HORIZON = timedelta(hours=24)  # scheduled limit changes carried in a profile
_RUN_REBALANCES = 200  # continue-as-new after this many rebalances (or when suggested)
_ENDED = ("Available", "Unavailable", "Faulted")  # a connector with no EV any more
LOWER_FIRST_PATCH = "site-load-lower-first"  # ADR-006: lowered allowances sent before raised
HISTORY_CAP_PATCH = "site-load-history-cap"  # ADR-006: continue-as-new past _HISTORY_EVENTS
# ADR-006: profiles start on the whole second (their periods step exactly at a scheduled limit
# change, not up to a second early), and a reading is judged against the allowance in force
# when it was taken (a charger that stepped down on its schedule does not draw "less than
# allowed", one that stepped up does not "overdraw").
WHOLE_SECOND_PATCH = "site-load-whole-second-start"
READING_PATCH = "site-load-allowance-at-reading"
# ADR-006: a profile asked for again (EV needs, renegotiation) while one is being sent is sent
# once more (the finished send used to overwrite the request).
RESEND_PATCH = "site-load-resend-flag"
# ADR-006: each station's profiles in one activity (`send_batch_to_station` on its gateway),
# lowered ones first at every station, then the raised ones (the gateways must know it first).
BATCH_PATCH = "site-load-batched-sends"
_HISTORY_EVENTS = 2_000  # a replay re-runs every rebalance of the run: keep runs short


@dataclass
class _Plan:
    """A connector's profile to send (`periods`), or our connector default to clear (None)."""

    conn: ConnectorState
    periods: list[tuple[float, float]] | None = None
    phases: int = 3


@workflow.defn(name=sl.SITE_LOAD)
class SiteLoad:
    @workflow.init
    def __init__(self, params: SiteLoadInput) -> None:
        self.site_id = params.site_id
        self.rebalance_s = params.rebalance_s
        self.conns: dict[str, ConnectorState] = {
            key: ConnectorState.model_validate(value) for key, value in params.connectors.items()
        }
        self.snapshot: SiteSnapshot | None = None
        self._indexed: SiteSnapshot | None = None
        self._index: dict = {}
        self.reload = True  # read the site from the store before the next rebalance
        self.urgent = True
        self.metered = False
        self.max_periods: dict[str, int] = dict(params.max_periods)
        self.defaults_sent: set[str] = set(params.max_periods)
        self.alerts_out: list[AlertRaise] = []
        self.alerts_resolved: list[str] = []
        self.view = SiteLoadView(site_id=params.site_id, managed=True)
        self.sender = Sender(params.site_id)

    # ---- signals ---------------------------------------------------------------------------

    def _conn(self, station_id: str, connector_id: int) -> ConnectorState:
        key = f"{station_id}/{connector_id}"
        if key not in self.conns:
            self.conns[key] = ConnectorState(station_id=station_id, connector_id=connector_id)
        return self.conns[key]

    @workflow.signal(name=sl.SIGNAL_SESSION)
    def session(self, signal: SessionSignal) -> None:
        if signal.kind == "started" and signal.connector_id:
            conn = self._conn(signal.station_id, signal.connector_id)
            if conn.session_id != signal.session_id:
                self._end_session(conn)
            conn.session_id, conn.arrival = signal.session_id, conn.arrival or signal.at
            conn.transaction_id = signal.transaction_id or conn.transaction_id
        elif signal.kind == "stopped":
            for conn in self.conns.values():
                if conn.station_id == signal.station_id and conn.session_id == signal.session_id:
                    self._end_session(conn)
        self.urgent = True

    def _end_session(self, conn: ConnectorState) -> None:
        """The EV left: forget the session (a connector default we installed is cleared at the
        next rebalance; a TxProfile ends with its transaction at the charger)."""
        if conn.session_id is None:
            return
        if conn.overdrawing:
            self.alerts_resolved.append(self._key(AlertCause.LOAD_OVERDRAW, conn))
        conn.session_id = conn.transaction_id = conn.arrival = None
        conn.measured_w = conn.measured_at = conn.ev_max_a = None
        conn.sent_at = conn.allowed_a = conn.profile = conn.profile_start = None
        conn.priority, conn.group_checked = 0, False
        conn.overdraws, conn.overdrawing, conn.resend = 0, False, False
        if not conn.use_default:
            conn.periods = None

    @workflow.signal(name=sl.SIGNAL_STATUS)
    def status(self, signal: StatusSignal) -> None:
        conn = self._conn(signal.station_id, signal.connector_id)
        conn.status = signal.status
        if signal.status in _ENDED and conn.session_id is not None:
            self._end_session(conn)
        self.urgent = True

    @workflow.signal(name=sl.SIGNAL_METERS)
    def meters(self, batch: MeterBatch) -> None:
        for sample in batch.samples:
            conn = self._metered_connector(
                sample.station_id, sample.connector_id, sample.session_id
            )
            if conn is None:
                continue
            if conn.measured_at is not None and sample.at <= conn.measured_at:
                continue
            conn.measured_w, conn.measured_at = sample.power_w, sample.at
            self._check_overdraw(conn)
        self.metered = True

    def _metered_connector(
        self, station_id: str, connector_id: int, session_id: str | None
    ) -> ConnectorState | None:
        """By session (a 2.0.1 reading names its EVSE only in the transaction's first event),
        else by connector."""
        if session_id is not None:
            for conn in self.conns.values():
                if conn.station_id == station_id and conn.session_id == session_id:
                    return conn
        if connector_id == 0:
            return None
        return self._conn(station_id, connector_id)

    def _check_overdraw(self, conn: ConnectorState) -> None:
        """Twice in a row clearly above an accepted allowance, after it had time to apply."""
        if (
            conn.session_id is None
            or conn.overdrawing
            or conn.profile != "accepted"
            or conn.allowed_a is None
            or conn.sent_at is None
            or conn.measured_at is None
            or conn.measured_at < conn.sent_at + timedelta(seconds=self.rebalance_s)
        ):
            return
        allowed = self._allowed_when_read(conn)
        if allowed is None:
            return
        if sl.is_overdrawing(allowed, self._amps(conn)):
            conn.overdraws += 1
        else:
            conn.overdraws = 0
        if conn.overdraws >= 2:
            conn.overdrawing, self.urgent = True, True
            self.alerts_out.append(
                AlertRaise(
                    cause=AlertCause.LOAD_OVERDRAW,
                    key=self._key(AlertCause.LOAD_OVERDRAW, conn),
                    message=(
                        f"{conn.station_id} connector {conn.connector_id} draws "
                        f"{self._amps(conn):.1f} A, allowed {conn.allowed_a:g} A"
                    ),
                    station_id=conn.station_id,
                    connector_id=conn.connector_id,
                    session_id=conn.session_id,
                    detail={"site": self.site_id, "allowed_a": conn.allowed_a},
                )
            )

    def _allowed_when_read(self, conn: ConnectorState) -> float | None:
        """The allowance in force when the connector's newest reading was taken."""
        if (
            conn.periods is None
            or conn.profile != "accepted"
            or conn.profile_start is None
            or conn.measured_at is None
            or not workflow.patched(READING_PATCH)
        ):
            return conn.allowed_a
        if conn.allowed_a is None:
            return None
        return sl.allowance_at(conn.periods, conn.profile_start, conn.measured_at)

    @workflow.signal(name=sl.SIGNAL_LINK)
    def link(self, signal: LinkSignal) -> None:
        if self.snapshot is not None:
            for station in self.snapshot.stations:
                if station.station_id == signal.station_id:
                    station.connected = signal.connected
                    station.version = signal.version or station.version
        self.sender.forget(signal.station_id)
        if signal.connected:  # it may have lost or kept our profiles: send them again
            self.defaults_sent.discard(signal.station_id)
            self.max_periods.pop(signal.station_id, None)
            for conn in self.conns.values():
                if conn.station_id == signal.station_id:
                    conn.periods = None
        self.reload = self.urgent = True

    @workflow.signal(name=sl.SIGNAL_LIMITS)
    def limits(self, change: LimitsChanged) -> None:
        self.reload = self.urgent = True

    @workflow.signal(name=sl.SIGNAL_EV_NEEDS)
    def ev_needs(self, needs: EvNeeds) -> None:
        conn = self._conn(needs.station_id, needs.connector_id)
        conn.ev_max_a = needs.max_current_a
        conn.periods = None  # the needs were answered Accepted: a profile follows (K15)
        conn.resend = True  # ... even when a send in flight now finishes after this signal
        self.urgent = True

    @workflow.signal(name=sl.SIGNAL_RENEGOTIATE)
    def renegotiate(self, again: Renegotiate) -> None:
        """The EV's schedule exceeded our profile (answered Rejected): send it again."""
        conn = self._conn(again.station_id, again.connector_id)
        conn.periods, conn.resend = None, True
        self.urgent = True

    @workflow.query(name=sl.QUERY_ALLOCATION)
    def allocation(self) -> SiteLoadView:
        return self.view

    # ---- the loop --------------------------------------------------------------------------

    @workflow.run
    async def run(self, params: SiteLoadInput) -> SiteLoadView:
        sender = self.sender
        rebalances = 0
        last = workflow.now() - timedelta(seconds=self.rebalance_s)
        while True:
            await self._wait(last)
            self.urgent = self.metered = False  # what signals say from now on waits its turn
            if self.reload:
                self.reload = False
                self.snapshot = await workflow.execute_activity_method(
                    SiteLoadActivities.load_site, self.site_id, **_STORE
                )
                self._adopt_sessions()
                sender.seed(self.snapshot.stations)
            if self.snapshot is None or self.snapshot.limits is None:
                await self._clear_all(sender)
                self.view = SiteLoadView(site_id=self.site_id, managed=False, at=workflow.now())
                return self.view
            started = workflow.now()
            await self._rebalance(sender)
            last = workflow.now()
            self.view.last_rebalance_ms = (last - started).total_seconds() * 1000
            await self._flush_alerts()
            rebalances += 1
            if (
                rebalances >= _RUN_REBALANCES
                or workflow.info().is_continue_as_new_suggested()
                or self._history_long()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SiteLoadInput(
                        site_id=self.site_id,
                        rebalance_s=self.rebalance_s,
                        connectors={k: c.model_dump(mode="json") for k, c in self.conns.items()},
                        max_periods=self.max_periods,
                        runs=params.runs + 1,
                    )
                )

    def _history_long(self) -> bool:
        """Long histories make a replay (after a worker restart or a timed-out task) slow: a
        rebalance of many connectors writes three events per profile."""
        length = workflow.info().get_current_history_length()
        return length > _HISTORY_EVENTS and workflow.patched(HISTORY_CAP_PATCH)

    async def _wait(self, last: datetime) -> None:
        """Until something urgent, meter readings (at most once per interval), or the next
        scheduled limit change / end of a temporary station limit."""
        now = workflow.now()
        deadline = now + _HORIZON
        if self.snapshot is not None and self.snapshot.limits is not None:
            for moment in self.snapshot.limits.boundaries(now, _HORIZON)[:1]:
                deadline = min(deadline, moment)
            for limit in self.snapshot.station_limits.values():
                if limit.until is not None and limit.until > now:
                    deadline = min(deadline, limit.until)
        paced = last + timedelta(seconds=self.rebalance_s)
        while not self.urgent:
            now = workflow.now()
            if now >= deadline:
                self.reload = True  # a temporary limit may have ended
                return
            wake = deadline if not self.metered else min(deadline, paced)
            if self.metered and now >= paced:
                return
            try:
                await workflow.wait_condition(
                    lambda: self.urgent or (self.metered and workflow.now() >= paced),
                    timeout=max(wake - now, timedelta(milliseconds=1)),
                )
            except TimeoutError:
                pass

    def _adopt_sessions(self) -> None:
        """After a (re)start: sessions the store knows as running that no signal told us of."""
        assert self.snapshot is not None
        known = {c.session_id for c in self.conns.values() if c.session_id}
        for session in self.snapshot.sessions:
            if session.session_id in known:
                continue
            conn = self._conn(session.station_id, session.connector_id)
            if conn.session_id is None:
                conn.session_id, conn.arrival = session.session_id, session.started_at
                station = self._station(session.station_id)
                if station is not None and station.version == "ocpp1.6":  # our number
                    conn.transaction_id = session.session_id.rsplit("-", 1)[-1]
                priorities = self.snapshot.limits.group_priorities if self.snapshot.limits else {}
                conn.priority = priorities.get(session.group_id or "", 0)
                conn.group_checked = True

    # ---- rebalance -------------------------------------------------------------------------

    def _amps(self, conn: ConnectorState) -> float:
        info = self._info(conn)
        voltage = self.snapshot.limits.voltage_v if self.snapshot and self.snapshot.limits else 230
        return sl.amps_of(conn.measured_w or 0.0, voltage, info.phases if info else 3)

    def _info(self, conn: ConnectorState):
        if self.snapshot is None:  # a new run (continue-as-new) before its first read
            return None
        if self._indexed is not self.snapshot:
            self._index = {
                (station.station_id, info.connector_id): info
                for station in self.snapshot.stations
                for info in station.connectors
            }
            self._indexed = self.snapshot
        return self._index.get((conn.station_id, conn.connector_id))

    def _station(self, station_id: str):
        assert self.snapshot is not None
        return next((s for s in self.snapshot.stations if s.station_id == station_id), None)

    def _key(self, cause: AlertCause, conn: ConnectorState) -> str:
        return alert_key(cause, conn.station_id, conn.connector_id)

    async def _priorities(self) -> None:
        assert self.snapshot is not None and self.snapshot.limits is not None
        priorities = self.snapshot.limits.group_priorities
        for conn in self.conns.values():
            if conn.session_id and not conn.group_checked:
                conn.group_checked = True
                if priorities:
                    group = await workflow.execute_activity_method(
                        SiteLoadActivities.session_group, conn.session_id, **_STORE
                    )
                    conn.priority = priorities.get(group or "", 0)

    def _loads(self) -> list[sl.ConnectorLoad]:
        assert self.snapshot is not None
        loads = []
        for station in self.snapshot.stations:
            for info in station.connectors:
                conn = self._conn(station.station_id, info.connector_id)
                reason = None
                if not station.connected:
                    reason = "offline"
                elif conn.rejected:
                    reason = "rejects charging profiles"
                elif conn.overdrawing:
                    reason = "draws more than allowed"
                measured = None
                if (
                    conn.measured_at is not None
                    and conn.sent_at is not None
                    and conn.measured_at >= conn.sent_at + timedelta(seconds=self.rebalance_s)
                ):
                    measured = self._amps(conn)
                loads.append(
                    sl.ConnectorLoad(
                        station_id=station.station_id,
                        connector_id=info.connector_id,
                        phases=info.phases,
                        phase=info.phase,
                        max_a=info.max_a,
                        active=conn.session_id is not None,
                        priority=conn.priority,
                        arrival=conn.arrival,
                        ev_max_a=conn.ev_max_a,
                        measured_a=measured,
                        allowed_a=None if conn.overdrawing else self._allowed_for(conn, measured),
                        controllable=reason is None,
                        uncontrolled_reason=reason,
                    )
                )
        return loads

    def _allowed_for(self, conn: ConnectorState, measured: float | None) -> float | None:
        """The allowance the allocation compares a reading with (the one in force then)."""
        if measured is None:
            return conn.allowed_a
        return self._allowed_when_read(conn)

    async def _rebalance(self, sender: Sender) -> None:
        assert self.snapshot is not None and self.snapshot.limits is not None
        await self._priorities()
        now = workflow.now()
        limits, loads = self.snapshot.limits, self._loads()
        stations = self.snapshot.station_limits
        result = sl.allocate(limits, loads, now, stations)
        # the same demand under each upcoming scheduled limit, for the profiles' periods
        later = [
            (moment, sl.allocate(limits, loads, moment, stations).by_key())
            for moment in limits.boundaries(now, _HORIZON)
        ]
        await self._station_defaults(sender)
        start = sl.profile_start(now) if workflow.patched(WHOLE_SECOND_PATCH) else now
        lower: list[_Plan] = []
        raise_: list[_Plan] = []
        ordered: list[_Plan] = []
        for load, given in zip(loads, result.connectors, strict=True):
            conn = self._conn(load.station_id, load.connector_id)
            if conn.session_id is None:
                if conn.use_default and conn.periods is not None:
                    plan = _Plan(conn)  # clear the connector default we installed
                    lower.append(plan)
                    ordered.append(plan)
                continue
            if not load.controllable and not conn.rejected:
                continue  # offline or overdrawing: nothing to tell it now
            steps = sl.profile_steps(
                start, given.current_a, [(at, future[load.key].current_a) for at, future in later]
            )
            periods = sl.schedule_periods(steps, self.max_periods.get(load.station_id, 1))
            forced = conn.resend and workflow.patched(RESEND_PATCH)
            if conn.periods == periods and conn.profile == "accepted" and not forced:
                continue
            conn.resend = False
            if conn.rejected and conn.periods is not None:
                continue  # it refused: counted as fixed; tried again after a reconnect
            plan = _Plan(conn, periods, load.phases)
            ordered.append(plan)
            if self._raises(conn, periods[0][1]):
                raise_.append(plan)
            else:
                lower.append(plan)
        if (lower or raise_) and workflow.patched(BATCH_PATCH):
            await self._send_batched(sender, lower, start)  # the site never goes over
            await self._send_batched(sender, raise_, start)
        elif workflow.patched(LOWER_FIRST_PATCH):  # the site never goes over while it changes
            await asyncio.gather(*(self._job(sender, plan, start) for plan in lower))
            await asyncio.gather(*(self._job(sender, plan, start) for plan in raise_))
        else:
            await asyncio.gather(*(self._job(sender, plan, start) for plan in ordered))
        self._update_view(result, now)

    def _job(self, sender: Sender, plan: _Plan, start: datetime):
        """One plan as its own activities (before `BATCH_PATCH`)."""
        if plan.periods is None:
            return self._clear_connector_default(sender, plan.conn)
        return self._send(sender, plan.conn, plan.periods, plan.phases, start)

    def _command(self, plan: _Plan, start: datetime) -> tuple[str, dict]:
        """A plan as a station command: our connector default cleared, or the TxProfile of the
        transaction (a connector TxDefaultProfile where the charger refused that)."""
        conn = plan.conn
        if plan.periods is None:
            return "clear_charging_profile", {
                "id": profiles.connector_default_id(conn.connector_id)
            }
        tx = conn.transaction_id if not conn.use_default else None
        purpose = "tx" if tx is not None else "default"
        params = profiles.profile_params(
            purpose, conn.connector_id, plan.periods, start, plan.phases, transaction_id=tx
        )
        return "set_charging_profile", params

    async def _send_batched(self, sender: Sender, plans: list[_Plan], start: datetime) -> None:
        """Every station's plans in one activity, all stations at once."""
        by_station: dict[str, list[_Plan]] = {}
        for plan in plans:
            by_station.setdefault(plan.conn.station_id, []).append(plan)

        async def station(station_id: str, items: list[_Plan]) -> None:
            outcomes = await sender.send_many(station_id, [self._command(p, start) for p in items])
            again = []
            for plan, outcome in zip(items, outcomes, strict=True):
                conn = plan.conn
                if plan.periods is None:
                    conn.use_default, conn.periods = False, None
                elif outcome == "Rejected" and not conn.use_default and conn.transaction_id:
                    conn.use_default = True  # not knowing the transaction yet: a default
                    again.append(plan)
                else:
                    self._sent(conn, plan.periods, start, outcome)
            if again:
                outcomes = await sender.send_many(
                    station_id, [self._command(p, start) for p in again]
                )
                for plan, outcome in zip(again, outcomes, strict=True):
                    assert plan.periods is not None
                    self._sent(plan.conn, plan.periods, start, outcome)

        await asyncio.gather(*(station(s, items) for s, items in by_station.items()))

    def _raises(self, conn: ConnectorState, amps: float) -> bool:
        """Whether the new allowance is more than the connector may draw now (an EV that only
        started waits at the station default of 0 A; one we know nothing of may draw)."""
        if conn.allowed_a is not None:
            return amps > conn.allowed_a
        return not conn.measured_w

    async def _station_defaults(self, sender: Sender) -> None:
        """Each connected station: its periods limit once, and a 0 A station default."""
        assert self.snapshot is not None
        jobs = []
        for station in self.snapshot.stations:
            if station.connected and station.station_id not in self.defaults_sent:
                self.defaults_sent.add(station.station_id)
                jobs.append(self._prepare_station(sender, station.station_id, station.version))
        await asyncio.gather(*jobs)

    async def _prepare_station(self, sender: Sender, station_id: str, version: str | None) -> None:
        self.max_periods[station_id] = await sender.max_periods(station_id, version)
        params = profiles.profile_params("default", 0, [(0, 0.0)], workflow.now(), 3)
        outcome = await sender.send(station_id, "set_charging_profile", params)
        if outcome != "Accepted":
            workflow.logger.warning("%s: station default profile %s", station_id, outcome)

    async def _send(self, sender, conn, periods, phases, start) -> None:
        tx = conn.transaction_id if not conn.use_default else None
        if tx is not None:
            params = profiles.profile_params(
                "tx", conn.connector_id, periods, start, phases, transaction_id=tx
            )
            outcome = await sender.send(conn.station_id, "set_charging_profile", params)
            if outcome == "Rejected":  # not knowing the transaction yet: a connector default
                conn.use_default = True
        if conn.use_default or tx is None:
            params = profiles.profile_params("default", conn.connector_id, periods, start, phases)
            outcome = await sender.send(conn.station_id, "set_charging_profile", params)
        self._sent(conn, periods, start, outcome)

    def _sent(self, conn: ConnectorState, periods, start: datetime, outcome: str) -> None:
        """What the charger's answer to a connector's profile means for it."""
        conn.periods, conn.sent_at, conn.profile_start = periods, workflow.now(), start
        self.view.profiles_sent += 1
        if outcome == "Accepted":
            conn.profile, conn.allowed_a = "accepted", periods[0][1]
            if conn.rejected:
                conn.rejected = False
                self.alerts_resolved.append(self._key(AlertCause.PROFILE_REJECTED, conn))
        elif outcome == "Rejected":
            conn.profile = "rejected"
            if not conn.rejected:
                conn.rejected, self.urgent = True, True
                self.alerts_out.append(
                    AlertRaise(
                        cause=AlertCause.PROFILE_REJECTED,
                        key=self._key(AlertCause.PROFILE_REJECTED, conn),
                        message=(
                            f"{conn.station_id} connector {conn.connector_id} rejects charging "
                            f"profiles; counted at {conn.allowed_a or 'its maximum'} A"
                        ),
                        station_id=conn.station_id,
                        connector_id=conn.connector_id,
                        session_id=conn.session_id,
                        detail={"site": self.site_id, "periods": periods},
                    )
                )
        else:
            conn.profile = outcome  # offline | timeout | error: tried again next time
            conn.periods = None

    async def _clear_connector_default(self, sender: Sender, conn: ConnectorState) -> None:
        params = {"id": profiles.connector_default_id(conn.connector_id)}
        await sender.send(conn.station_id, "clear_charging_profile", params)
        conn.use_default, conn.periods = False, None

    async def _clear_all(self, sender: Sender) -> None:
        """The site is no longer managed: remove our profiles from every connected station."""
        stations = self.snapshot.stations if self.snapshot else []
        jobs = [
            sender.send(s.station_id, "clear_charging_profile", profiles.clear_params(purpose))
            for s in stations
            if s.connected
            for purpose in ("tx", "default")
        ]
        await asyncio.gather(*jobs)

    async def _flush_alerts(self) -> None:
        raised, self.alerts_out = self.alerts_out, []
        for alert in raised:
            await workflow.execute_activity_method(
                MonitoringActivities.raise_alert, alert, **_STORE
            )
        resolved, self.alerts_resolved = self.alerts_resolved, []
        if resolved:
            await workflow.execute_activity_method(
                MonitoringActivities.resolve_alerts,
                AlertResolve(keys=resolved, note="the charger follows the site's profiles again"),
                **_STORE,
            )

    def _update_view(self, result: sl.AllocationResult, now: datetime) -> None:
        views = []
        measured = 0.0
        known = {(a.station_id, a.connector_id) for a in result.connectors}
        for conn in sorted(self.conns.values(), key=lambda c: (c.station_id, c.connector_id)):
            if (conn.station_id, conn.connector_id) not in known:
                continue
            if conn.session_id and conn.measured_w is not None:
                measured += conn.measured_w
            views.append(
                ConnectorView(
                    station_id=conn.station_id,
                    connector_id=conn.connector_id,
                    session_id=conn.session_id,
                    status=conn.status,
                    measured_w=conn.measured_w if conn.session_id else None,
                    allowed_a=conn.allowed_a,
                    profile=conn.profile,
                    controllable=not (conn.rejected or conn.overdrawing),
                )
            )
        self.view = SiteLoadView(
            site_id=self.site_id,
            managed=True,
            at=now,
            measured_w=round(measured, 1),
            allocation=result,
            connectors=views,
            rebalances=self.view.rebalances + 1,
            profiles_sent=self.view.profiles_sent,
            last_rebalance_ms=self.view.last_rebalance_ms,
        )
