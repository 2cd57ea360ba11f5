"""Shared by the test_properties_*.py files: generators of rosters and event streams, and
the system under test with its oracle (``World``): DispatchService on MemoryAgentStore.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from engine.adapters.memory import MemoryAgentStore
from engine.clock import SimClock
from engine.core.model import Decision, Request
from engine.core.policy import Policy, parse_policy
from engine.dispatch.service import DispatchService
from engine.ports import ASSIGNED, CLOSED, OFFERED, WAITING

T0 = 1_700_000_000_000
TENANT = "acme"
AGENTS = tuple(f"a{i}" for i in range(6))
TICKETS = tuple(f"t{i:02d}" for i in range(12))
REGIONS = ("eu", "eu2", "us")
CHANNELS = ("chat", "phone")
# Weighted towards the plain queue so that agents and tickets meet often.
TIERS = (
    "standard",
    "standard",
    "standard",
    "offer",
    "regional",
    "expert",
    "sticky",
    "perf",
    "bronze",
    "grab",
    "grablate",
)
QUEUES = ("offers", "regional", "experts", "sticky", "perf", "grab", "grablate", "general")

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BLINKY = [["22:14", "22:16"], ["22:17", "22:25"], ["22:30", "23:00"], ["23:05", "23:30"]]


def make_policy(aging_s: float | None) -> Policy:
    doc: dict[str, Any] = {
        "version": 1,
        "regions": {"eu": {"neighbors": ["eu2"]}, "eu2": {"neighbors": ["eu"]}, "us": {}},
        "queues": [
            {
                "name": "offers",
                "match": {"tier": "offer"},
                "strategy": "round_robin",
                "offer": {"timeout_s": 5, "max_misses": 2, "reoffer_after_s": 10},
                "on_logout": "requeue",
                "handover_after_away_s": 12,
            },
            {
                "name": "regional",
                "match": {"tier": "regional"},
                "strategy": "least_loaded",
                "teams": ["t"],
                "team_ladder": [{"after_s": 10, "widen": "partners"}],
                "region_ladder": [
                    {"after_s": 10, "widen": "neighbors"},
                    {"after_s": 30, "widen": "any"},
                ],
            },
            {
                "name": "experts",
                "match": {"tier": "expert"},
                "strategy": "skill_weighted",
                "skills": {"billing": 3},
                "overflow": {"after_s": 20, "to": "general"},
            },
            {
                "name": "sticky",
                "match": {"tier": "sticky"},
                "strategy": "longest_idle",
                "sticky": {"after_s": 15},
                "region_ladder": [{"after_s": 25, "widen": "any"}],
            },
            {
                "name": "perf",
                "match": {"tier": "perf"},
                "strategy": "performance_weighted",
                "priority_raise": [{"after_s": 15, "by": 1}, {"after_s": 40, "by": 2}],
                "fairness": {"max_new": 1, "window_s": 60},
                "wrap_up_s": 8,
            },
            {  # grab mode: pooled until claimed, one open ticket per agent
                "name": "grab",
                "match": {"tier": "grab"},
                "strategy": "round_robin",
                "mode": "pull",
                "claim_limit": 1,
            },
            {  # grab mode with a push fallback after 10 s, offers once pushed
                "name": "grablate",
                "match": {"tier": "grablate"},
                "strategy": "least_loaded",
                "mode": "pull",
                "push_after_s": 10,
                "offer": {"timeout_s": 5, "max_misses": 2, "reoffer_after_s": 10},
            },
            {
                "name": "general",
                "match": {"tier": ["standard", "expert"]},
                "strategy": "round_robin",
                "on_logout": "requeue",
            },
        ],
        "teams": {"t": {"partners": ["u"]}, "u": {}},
        # short shifts around T0 (Tue 22:13:20 UTC), so that streams cross their boundaries
        "calendars": {"blinky": {"timezone": "UTC", "weekly": {d: BLINKY for d in DAYS}}},
        "shifts": {"stop_before_end": {"phone": 20}},
    }
    if aging_s is not None:
        doc["aging"] = {"per_priority_s": aging_s}
    return parse_policy(doc)


# ---- generators ------------------------------------------------------------------------------

skill_maps = st.dictionaries(st.sampled_from(["billing", "tech"]), st.integers(1, 5), max_size=2)


@st.composite
def agent_profiles(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "skills": draw(skill_maps),
        "regions": draw(st.lists(st.sampled_from(REGIONS), unique=True, min_size=1, max_size=2)),
        "capacity": {
            "chat": draw(st.sampled_from([1, 2, 1, 3, 0])),
            "phone": draw(st.sampled_from([1, 0, 2, 1])),
        },
        "performance": draw(st.sampled_from([0.2, 0.5, 0.8, 1.0])),
        "team": draw(st.sampled_from(["t", "t", "u"])),
        **draw(st.sampled_from([{}, {}, {"schedule": "blinky"}])),
    }


rosters = st.lists(agent_profiles(), min_size=2, max_size=len(AGENTS))

ticket_fields = st.fixed_dictionaries(
    {
        "channel": st.sampled_from(CHANNELS),
        "priority": st.integers(1, 5),
        "tier": st.sampled_from(TIERS),
        "region": st.sampled_from([None, None, *REGIONS]),
        "skills": st.dictionaries(
            st.sampled_from(["billing", "tech"]), st.integers(1, 3), max_size=1
        ),
        "preferred_agent": st.sampled_from([None, None, *AGENTS[:3]]),
        "age_ms": st.integers(0, 20_000),
    }
)

agent_ix = st.integers(0, len(AGENTS) - 1)
ticket_ix = st.integers(0, len(TICKETS) - 1)
pick = st.integers(0, 10_000)  # chooses among the tickets an operation makes sense for

operations = st.one_of(
    st.tuples(st.just("create"), ticket_fields),
    st.tuples(st.just("create"), ticket_fields),
    st.tuples(st.just("create"), ticket_fields),
    st.tuples(st.just("resolve"), pick),
    st.tuples(st.just("resolve"), pick),
    st.tuples(st.just("cancel"), pick),
    st.tuples(st.just("login"), agent_ix),
    st.tuples(st.just("logout"), agent_ix),
    st.tuples(st.just("status"), agent_ix, st.sampled_from(["available", "away", "busy"])),
    st.tuples(st.just("claim"), agent_ix),
    st.tuples(st.just("claim_one"), pick, agent_ix),
    st.tuples(st.just("race"), pick, agent_ix, agent_ix),
    st.tuples(st.just("accept"), pick),
    st.tuples(st.just("reject"), pick),
    st.tuples(st.just("reassign"), pick, agent_ix, st.booleans()),
    st.tuples(st.just("raise"), pick, st.integers(1, 5)),
    st.tuples(st.just("move"), pick, st.sampled_from(QUEUES)),
    st.tuples(st.just("pause"), st.sampled_from(QUEUES), st.booleans()),
    st.tuples(st.just("reopen"), pick),
    st.tuples(st.just("duplicate"), pick),
    st.tuples(st.just("advance"), st.sampled_from([0, 1_000, 5_000, 10_000, 15_000, 30_000])),
    st.tuples(st.just("advance"), st.integers(0, 45_000)),
)

# Grab mode in focus: tickets of the pull queues mostly, claims and races, time.
grab_ticket_fields = ticket_fields.map(
    lambda f: {**f, "tier": ("grab", "grablate", "grablate", "standard")[f["priority"] % 4]}
)
grab_operations = st.one_of(
    st.tuples(st.just("create"), grab_ticket_fields),
    st.tuples(st.just("create"), grab_ticket_fields),
    st.tuples(st.just("claim"), agent_ix),
    st.tuples(st.just("claim_one"), pick, agent_ix),
    st.tuples(st.just("race"), pick, agent_ix, agent_ix),
    st.tuples(st.just("resolve"), pick),
    st.tuples(st.just("reject"), pick),
    st.tuples(st.just("status"), agent_ix, st.sampled_from(["available", "away", "busy"])),
    st.tuples(st.just("login"), agent_ix),
    st.tuples(st.just("pause"), st.sampled_from(QUEUES), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([1_000, 5_000, 10_000, 15_000])),
)


# ---- the system under test and its oracle ----------------------------------------------------


@dataclass
class Held:
    agent: str
    channel: str
    forced: bool


@dataclass
class World:
    """The service under test, plus what the test knows from outside (its oracle)."""

    roster: dict[str, dict[str, Any]]
    aging_s: float | None
    clock: SimClock = field(default_factory=lambda: SimClock(T0))
    store: MemoryAgentStore = field(default_factory=MemoryAgentStore)
    sent: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)  # replay of the decision stream
    created: list[str] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    assigned_count: Counter[str] = field(default_factory=Counter)
    versions: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (seq, kind)
    # (queue, agent) -> ticket -> when it was offered or assigned (not by a supervisor)
    given: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.service = DispatchService(self.store, make_policy(self.aging_s))

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def event(self, typ: str, oid: str, **fields: Any) -> dict[str, Any]:
        return {"v": 1, "type": typ, "id": oid, "tenant": TENANT, "ts": self.now, **fields}

    def in_state(self, k: int, *states: str) -> str | None:
        """The ``k``-th (modulo) created ticket in one of ``states``; any ticket if none is."""
        ids = [t for t in self.created if (r := self.store.ticket(TENANT, t)) and r.state in states]
        ids = ids or self.created
        return ids[k % len(ids)] if ids else None

    def agent_id(self, i: int) -> str:
        return AGENTS[i % len(self.roster)]

    def to_event(self, op: tuple[Any, ...]) -> dict[str, Any] | None:
        kind = op[0]
        if kind == "create":
            f = dict(op[1])
            age = f.pop("age_ms")
            body = {k: v for k, v in f.items() if v is not None}
            tid = f"t{len(self.created):03d}"
            return {**self.event("ticket.created", tid, **body), "ts": self.now - age}
        if kind == "login":
            return self.event(
                "agent.login", self.agent_id(op[1]), **self.roster[self.agent_id(op[1])]
            )
        if kind == "logout":
            return self.event("agent.logout", self.agent_id(op[1]))
        if kind == "status":
            return self.event("agent.status", self.agent_id(op[1]), status=op[2])
        if kind == "claim":
            return self.event("command.claim", self.agent_id(op[1]))
        if kind == "claim_one":  # a named ticket, mostly a waiting one
            tid = self.in_state(op[1], WAITING)
            if tid is None:
                return None
            return self.event("command.claim", self.agent_id(op[2]), ticket=tid)
        if kind == "pause":
            typ = "command.pause_queue" if op[2] else "command.resume_queue"
            return self.event(typ, op[1], supervisor="sup")
        if kind == "duplicate":
            return self.sent[op[1] % len(self.sent)] if self.sent else None
        states = {
            "resolve": (OFFERED, ASSIGNED),
            "cancel": (WAITING,),
            "accept": (OFFERED,),
            "reject": (OFFERED,),
            "reassign": (WAITING, OFFERED, ASSIGNED),
            "raise": (WAITING,),
            "move": (WAITING,),
            "reopen": (CLOSED,),
        }[kind]
        tid = self.in_state(op[1], *states)
        if tid is None:
            return None
        if kind == "resolve":
            return self.event("ticket.resolved", tid)
        if kind == "cancel":
            return self.event("ticket.cancelled", tid)
        if kind in ("accept", "reject"):
            typ = "ticket.accepted" if kind == "accept" else "ticket.rejected"
            rec = self.store.ticket(TENANT, tid)
            return self.event(typ, tid, agent=(rec.agent if rec else None) or AGENTS[0])
        if kind == "reassign":
            typ = "command.force_assign" if op[3] else "command.reassign"
            return self.event(typ, tid, to_agent=self.agent_id(op[2]), supervisor="sup")
        if kind == "raise":
            return self.event("command.raise_priority", tid, priority=op[2], supervisor="sup")
        if kind == "move":
            return self.event("command.move_queue", tid, queue=op[2], supervisor="sup")
        return self.event("ticket.reopened", tid)

    def apply(self, op: tuple[Any, ...]) -> list[Decision]:
        if op[0] == "advance":
            self.clock.advance(op[1])
            return self.service.tick(self.now)
        if op[0] == "race":  # two agents claim the same ticket in one batch
            tid = self.in_state(op[1], WAITING)
            if tid is None:
                return []
            claims = [self.event("command.claim", self.agent_id(i), ticket=tid) for i in op[2:]]
            self.sent += claims
            return self.service.handle(claims, self.now)
        ev = self.to_event(op)
        if ev is None:
            return []
        self.sent.append(ev)
        if ev["type"] == "ticket.created" and ev["id"] not in self.created:
            self.created.append(ev["id"])
        elif ev["type"] == "command.pause_queue":
            self.paused.add(ev["id"])
        elif ev["type"] == "command.resume_queue":
            self.paused.discard(ev["id"])
        return self.service.handle([ev], self.now)

    def replay(self, decisions: list[Decision]) -> None:
        """Follow the decision stream: who holds each ticket, as a consumer would see it."""
        # Published, as a dispatcher does: acknowledge them so the outbox forgets them.
        self.service.acknowledge(decisions)
        for d in decisions:
            self.check_version(d)
            held = self.held.get(d.ticket_id)
            if d.duplicate:
                if d.kind in ("assigned", "offered"):
                    assert held is not None and held.agent == d.agent, d
                else:
                    assert held is None, d
                continue
            if d.kind in ("assigned", "offered"):
                assert held is None or held.agent == d.agent, f"second agent for {d}"
                forced = held.forced if held else False
                self.held[d.ticket_id] = Held(str(d.agent), d.channel, forced)
                if d.kind == "assigned" and held is None:
                    self.assigned_count[str(d.agent)] += 1
            elif d.kind == "reassigned":
                self.held[d.ticket_id] = Held(str(d.agent), d.channel, d.forced)
            elif d.kind in ("released", "handed_over"):
                assert (held.agent if held else None) == d.agent, d
                self.held.pop(d.ticket_id, None)
            elif d.kind in ("paused", "resumed"):
                assert (d.ticket_id, d.seq, d.supervisor) == (d.queue, 0, "sup"), d
            elif d.kind in ("queued", "escalated", "unassignable"):
                assert held is None, f"{d.kind} while held by {held}"
            else:
                assert d.kind == "rejected", d

    def check_version(self, d: Decision) -> None:
        """Each decision about a known ticket is its next version; a duplicate repeats the
        current one. (After a close, a reopen's version is checked by
        test_memory_store_lifecycle.py.)"""
        if not d.seq:
            assert d.kind in ("rejected", "unassignable", "paused", "resumed"), d
            return
        seq, kind = self.versions.get(d.ticket_id, (0, ""))
        if d.duplicate:
            assert d.seq == seq, (d, seq)
            return
        if kind != "released":
            assert d.seq == seq + 1, (d, seq)
        self.versions[d.ticket_id] = (d.seq, d.kind)

    def recent(self, req: Request, agent_id: str) -> int:
        """The agent's new tickets of ``req``'s queue in its fairness window (the store's)."""
        pool = self.store._pools.get(TENANT)
        return pool.recent(req, agent_id, self.now) if pool else 0

    def stored_requests(self) -> Mapping[str, Request]:
        """The request each ticket is currently routed with (the reference store's own)."""
        pool = self.store._pools.get(TENANT)
        return {tid: t.req for tid, t in pool.tickets.items()} if pool else {}
