"""Discrete-event simulation of a call center through the real routing core and agent store.

Every ticket is routed by :func:`engine.core.routing.route` and placed by an
:class:`~engine.ports.AgentStore` (``assign``); hand-time completions and abandonments are
``release(..., "resolved" | "abandoned")`` (the freed agent pulls waiting work inside the
store); escalation steps (region ladder, overflow, priority raises) run when their timers
fall due, through ``claim_timers`` + ``route`` + ``reroute``, exactly as a dispatcher does;
shifts are ``update_agent`` status changes (``available`` at the start, ``offline`` at
the end, open work is finished). Offers (``offer`` in a queue) are accepted at once.

The clock is simulated: integer microseconds from ``t = 0`` in the event heap, epoch
milliseconds ``t // 1000`` for the store and the router (tickets carry ``ts`` in ms from
0). Arrivals stop at ``duration_s``; the run then drains open work for at most another
``duration_s`` (tickets still waiting then are ``unanswered``). Randomness: one
``random.Random`` per arrival class, seeded from ``random.Random(seed)``; each ticket draws
its inter-arrival gap, handle time and patience from its class's stream, so runs with the
same seed (and strategies compared on one seed) see identical tickets. The figures
returned are defined in :mod:`engine.sim.stats`.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from engine.core.model import ASSIGNED, OFFERED, Decision, Request, Ticket
from engine.core.routing import route
from engine.ports import TIMER_ESCALATE, AgentStore
from engine.sim.fast_store import SimAgentStore
from engine.sim.roster import Roster
from engine.sim.scenario import ArrivalClass, Scenario, parse_scenario
from engine.sim.stats import US_PER_S, Stats

Progress = Callable[[Mapping[str, Any]], None]

_ARRIVE, _DONE, _ABANDON, _TIMER, _LOGIN, _LOGOUT = range(6)
_WAITING, _BUSY, _CLOSED = range(3)
_TIMER_LEASE_MS = 60_000
_TIMER_BATCH = 1000
_CHECK_EVERY = 4096  # events between looks at the wall clock
_FORGET_EVERY = 8192  # closed tickets between clean-ups of the store's closed records


class _Tk:
    """The simulator's view of one ticket."""

    __slots__ = (
        "agent",
        "arrive",
        "batch",
        "entry",
        "handle_s",
        "req",
        "start",
        "state",
        "ticket",
        "timer_ms",
    )

    def __init__(self, ticket: Ticket, req: Request, arrive: int, handle_s: float) -> None:
        self.ticket = ticket
        self.req = req
        self.arrive = arrive
        self.handle_s = handle_s
        self.entry = req.queue
        self.state = _WAITING
        self.agent = ""
        self.start = 0
        self.batch = -1
        self.timer_ms = 0


def simulate(
    scenario: Scenario | Mapping[str, Any],
    progress: Progress | None = None,
    *,
    store: AgentStore | None = None,
    progress_every_s: float = 2.0,
    on_decision: Callable[[Decision], None] | None = None,
) -> dict[str, Any]:
    """Run ``scenario`` (a :class:`Scenario`, or a document for
    :func:`~engine.sim.scenario.parse_scenario`) and return its figures: those defined in
    :mod:`engine.sim.stats`, plus ``events`` processed, ``tickets_total`` generated
    (warm-up included), ``sim_s`` simulated seconds until the last event, ``wall_s`` and
    ``cpu_s`` spent, and ``tickets_per_wall_min`` = tickets_total / wall minutes.

    ``progress`` is called about every ``progress_every_s`` wall seconds with ``sim_s``,
    ``duration_s``, ``tickets`` (generated so far), ``wall_s`` and ``tickets_per_wall_s``.
    ``store`` defaults to :class:`~engine.sim.fast_store.SimAgentStore`, which decides
    exactly as :class:`~engine.adapters.memory.store.MemoryAgentStore` (pass one to
    compare); ``on_decision`` sees every decision the store returns, in order.
    """
    sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    return _Run(sc, store or SimAgentStore(), on_decision).run(progress, progress_every_s)


class _Run:
    def __init__(
        self, sc: Scenario, store: AgentStore, on_decision: Callable[[Decision], None] | None
    ) -> None:
        self.sc = sc
        self.store = store
        self.on_decision = on_decision
        self.tenant = sc.tenant
        self.end = round(sc.duration_s * US_PER_S)
        self.stop = 2 * self.end
        target = round(sc.service_level_target_s * US_PER_S)
        self.stats = Stats(round(sc.warmup_s * US_PER_S), self.end, sc.batches, target)
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        self.made = 0
        self.open = 0
        self.tickets: dict[str, _Tk] = {}
        self.roster = Roster(sc.agents)
        self.login: dict[str, int] = {}  # agent -> logged in since (absent: logged out)
        self.logout: dict[str, int] = {}  # agent -> last logged out at
        self.closed = 0
        self.forget_closed: Callable[[str], int] | None = getattr(store, "forget_closed", None)
        self.outbox_ack: Callable[[str, list[tuple[str, int, bool]]], object] | None = getattr(
            store, "outbox_ack", None
        )
        master = random.Random(sc.seed)
        self.rngs = [random.Random(master.getrandbits(64)) for _ in sc.arrivals]
        self.kw = [_ticket_kwargs(c) for c in sc.arrivals]

    def push(self, t: int, kind: int, ref: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, ref))

    # ---- the loop ---------------------------------------------------------------------
    def run(self, progress: Progress | None, every_s: float) -> dict[str, Any]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        self._agents_at_zero()
        for i, c in enumerate(self.sc.arrivals):
            self._next_arrival(i, c, 0)
        heap, end, stop, events, last = self.heap, self.end, self.stop, 0, 0
        next_report = wall0 + every_s
        handlers: tuple[Callable[[int, Any], None], ...] = (
            self._arrive,
            self._done,
            self._abandon,
            self._timer,
            self._login_ev,
            self._logout_ev,
        )
        while heap:
            t, _, kind, ref = heapq.heappop(heap)
            if t >= end and (self.open == 0 or t > stop):
                break
            handlers[kind](t, ref)
            events, last = events + 1, t
            if progress is not None and not events % _CHECK_EVERY:
                now = time.perf_counter()
                if now >= next_report:
                    next_report = now + every_s
                    progress(self._progress(t, now - wall0))
        self._finish(last)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        out = self.stats.summary()
        out.update(
            events=events,
            tickets_total=self.made,
            sim_s=last / US_PER_S,
            wall_s=wall,
            cpu_s=cpu,
            tickets_per_wall_min=self.made / wall * 60 if wall > 0 else float("inf"),
        )
        return out

    def _progress(self, t: int, wall: float) -> dict[str, Any]:
        return {
            "sim_s": t / US_PER_S,
            "duration_s": self.sc.duration_s,
            "tickets": self.made,
            "wall_s": wall,
            "tickets_per_wall_s": self.made / wall if wall > 0 else 0.0,
        }

    def _finish(self, t: int) -> None:
        for aid, since in self.login.items():
            self.stats.staffed(aid, self.roster.units(aid), since, t)
        for tk in self.tickets.values():
            if tk.state == _BUSY:
                self.stats.busy(tk.agent, tk.start, t)
                if tk.agent not in self.login:
                    self.stats.staffed(tk.agent, 1, max(tk.start, self.logout[tk.agent]), t)
            elif tk.state == _WAITING and tk.batch >= 0:
                self.stats.unanswered(tk.batch, tk.entry)

    # ---- decisions ----------------------------------------------------------------------
    def apply(self, ds: list[Decision], t: int) -> None:
        """Act on a store call's decisions: they count as published (acknowledged to the
        store's outbox where it has one), assignments start service, offers are accepted."""
        if self.outbox_ack is not None and ds:
            published = [(d.ticket_id, getattr(d, "seq", 0), False) for d in ds if not d.duplicate]
            self.outbox_ack(self.tenant, published)
        for d in ds:
            if self.on_decision is not None:
                self.on_decision(d)
            if d.kind == ASSIGNED:
                self._start(d, t)
            elif d.kind == OFFERED and d.agent is not None:
                self.apply(self.store.accept(self.tenant, d.ticket_id, d.agent, t // 1000), t)

    def _start(self, d: Decision, t: int) -> None:
        tk = self.tickets[d.ticket_id]
        agent = d.agent or ""
        tk.state, tk.agent, tk.start = _BUSY, agent, t
        self.push(t + round(tk.handle_s * self.roster.factor(agent) * US_PER_S), _DONE, tk)
        if tk.batch >= 0:
            best = self.roster.is_best_skilled(agent, tk.req.skills)
            self.stats.answered(tk.batch, tk.entry, t - tk.arrive, tk.req.step, best)

    def _schedule_timer(self, tk: _Tk) -> None:
        wake = tk.req.wake_ms
        if tk.state == _WAITING and wake and wake != tk.timer_ms:
            tk.timer_ms = wake
            self.push(wake * 1000, _TIMER, tk)

    # ---- events ---------------------------------------------------------------------------
    def _next_arrival(self, i: int, c: ArrivalClass, t: int) -> None:
        nt = t + round(self.rngs[i].expovariate(c.rate_per_s) * US_PER_S)
        if nt < self.end:
            self.push(nt, _ARRIVE, i)

    def _arrive(self, t: int, i: int) -> None:
        c, rng = self.sc.arrivals[i], self.rngs[i]
        self._next_arrival(i, c, t)
        handle_s = c.handle.sample(rng)
        patience = c.patience.sample(rng) if c.patience is not None else None
        self.made += 1
        tid = f"t{self.made:09d}"
        now = t // 1000
        ticket = Ticket(id=tid, tenant=self.tenant, ts=now, **self.kw[i])
        req = route(ticket, self.sc.policy, now).request
        if req is None:  # excluded by scenario validation
            return
        tk = self.tickets[tid] = _Tk(ticket, req, t, handle_s)
        tk.batch = self.stats.batch_of(t)
        if tk.batch >= 0:
            self.stats.arrived(tk.batch, tk.entry)
        self.open += 1
        event = {"id": tid, "tenant": self.tenant, "ts": now, **c.ticket}
        self.apply(self.store.assign([(req, event)], now), t)
        if tk.state == _WAITING:
            if patience is not None:
                self.push(t + round(patience * US_PER_S), _ABANDON, tk)
            self._schedule_timer(tk)

    def _close(self, tk: _Tk, reason: str, t: int) -> None:
        tk.state = _CLOSED
        self.open -= 1
        del self.tickets[tk.ticket.id]
        self.apply(self.store.release(self.tenant, tk.ticket.id, reason, t // 1000), t)
        self.closed += 1
        if self.forget_closed is not None and not self.closed % _FORGET_EVERY:
            self.forget_closed(self.tenant)

    def _done(self, t: int, tk: _Tk) -> None:
        self.stats.busy(tk.agent, tk.start, t)
        if tk.agent not in self.login:  # finishing work after logging out: on duty meanwhile
            self.stats.staffed(tk.agent, 1, max(tk.start, self.logout[tk.agent]), t)
        self._close(tk, "resolved", t)

    def _abandon(self, t: int, tk: _Tk) -> None:
        if tk.state == _WAITING:
            if tk.batch >= 0:
                self.stats.abandoned(tk.batch, tk.entry)
            self._close(tk, "abandoned", t)

    def _timer(self, t: int, tk: _Tk) -> None:
        now = t // 1000
        if tk.state != _WAITING or tk.timer_ms != now:
            return  # stale: answered, abandoned or re-scheduled since
        store = self.store
        for timer in store.claim_timers(self.tenant, now, _TIMER_LEASE_MS, _TIMER_BATCH):
            # Done before acting: the store tells timers apart by due time only, so a step
            # re-scheduled at exactly now + lease would otherwise be dropped by timer_done.
            store.timer_done(timer)
            other = self.tickets.get(timer.ticket_id)
            if timer.kind != TIMER_ESCALATE or other is None or other.state != _WAITING:
                continue  # offer timers never fall due: offers are accepted at once
            req = route(other.ticket, self.sc.policy, now).request
            if req is not None:
                other.req = req
                self.apply(store.reroute([req], now), t)
                self._schedule_timer(other)

    def _agents_at_zero(self) -> None:
        for g in self.sc.agents:
            fields = {
                "skills": dict(g.skills),
                "regions": list(g.regions),
                "team": g.team,
                "capacity": dict(g.capacity),
                "performance": g.performance,
            }
            on = g.shift is None or g.shift.start_s <= 0
            for aid in g.agent_ids():
                status = {"status": "available" if on else "offline"}
                self.store.update_agent(self.tenant, aid, {**fields, **status}, 0)
                if on:
                    self.login[aid] = 0
                if g.shift is not None:
                    length = round((g.shift.end_s - g.shift.start_s) * US_PER_S)
                    ref = (aid, length, g.shift.repeat_s)
                    if on:
                        self.push(length, _LOGOUT, ref)
                    else:
                        self.push(round(g.shift.start_s * US_PER_S), _LOGIN, ref)

    def _login_ev(self, t: int, ref: tuple[str, int, float | None]) -> None:
        aid, length, _ = ref
        self.login[aid] = t
        self.push(t + length, _LOGOUT, ref)
        self.apply(self.store.update_agent(self.tenant, aid, {"status": "available"}, t // 1000), t)

    def _logout_ev(self, t: int, ref: tuple[str, int, float | None]) -> None:
        aid, _, repeat_s = ref
        since = self.login.pop(aid, t)
        self.logout[aid] = t
        self.stats.staffed(aid, self.roster.units(aid), since, t)
        self.apply(self.store.update_agent(self.tenant, aid, {"status": "offline"}, t // 1000), t)
        if repeat_s is not None:
            self.push(since + round(repeat_s * US_PER_S), _LOGIN, ref)


def _ticket_kwargs(c: ArrivalClass) -> dict[str, Any]:
    """Constructor arguments of :class:`Ticket` for one arrival class (shared, read-only)."""
    kw = dict(c.ticket)
    kw["skills"] = dict(kw.get("skills") or {})
    kw["attributes"] = dict(kw.get("attributes") or {})
    return kw
