"""The differential twin: random operations applied to the memory and the Redis store, whose
answers and snapshots must agree after every operation (used by the differential tests)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from engine.core.model import STATUSES, Cooloff, Request, Ticket
from engine.core.policy import parse_policy
from engine.core.routing import route
from engine.errors import EngineError
from engine.escaping import timer_member
from engine.ports import TIMER_HANDOVER, AgentStore

NOW = 1_800_000_000_000
LEASE_MS = 1_000

POLICY = parse_policy(
    {
        "version": 1,
        "regions": {
            "eu": {"neighbors": ["uk"]},
            "uk": {"neighbors": ["eu"]},
            "us": {"neighbors": []},
        },
        "queues": [
            {
                "name": "vip",
                "match": {"tier": "vip"},
                "strategy": "skill_weighted",
                "skills": {"en": 1},
                "offer": {"timeout_s": 20, "max_misses": 2, "reoffer_after_s": 30},
                "priority_boost": 1,
            },
            {
                "name": "grab",
                "match": {"tier": "grab"},
                "strategy": "least_loaded",
                "mode": "pull",
                "claim_limit": 1,
                "skills": {"en": 1},
                "offer": {"timeout_s": 20},
            },
            {
                "name": "grab2",
                "match": {"tier": "grab2"},
                "strategy": "round_robin",
                "mode": "pull",
                "push_after_s": 30,
                "fairness": {"max_new": 2, "window_s": 40},
                "overflow": {"after_s": 100, "to": "grab"},
            },
            {
                "name": "phone",
                "match": {"channel": "phone"},
                "strategy": "round_robin",
                "region_ladder": [
                    {"after_s": 30, "widen": "neighbors"},
                    {"after_s": 90, "widen": "any"},
                ],
                "overflow": {"after_s": 120, "to": "general"},
                "wrap_up_s": 20,
            },
            {
                "name": "email",
                "match": {"channel": "email"},
                "strategy": "longest_idle",
                "priority_raise": [{"after_s": 60, "by": 1}],
                "capacity_channel": "chat",
            },
            {
                "name": "chat",
                "match": {"channel": "chat"},
                "strategy": "performance_weighted",
                "sticky": {"after_s": 45},
                "offer": {"timeout_s": 15, "max_misses": 1},
                "fairness": {"max_new": 2, "window_s": 40},
            },
            {
                "name": "teamq",
                "match": {"tier": "team"},
                "strategy": "round_robin",
                "teams": ["x"],
                "fairness": {"max_new": 1, "window_s": 30},
                "team_ladder": [
                    {"after_s": 40, "widen": "partners"},
                    {"after_s": 100, "widen": "any"},
                ],
            },
            {"name": "general", "strategy": "least_loaded"},
        ],
        "teams": {"x": {"partners": ["y"]}, "y": {}},
        "shifts": {"stop_before_end": {"email": 30, "chat": 5}},
    }
)
POLICY = replace(POLICY, revision="d1ffe7e57a11")  # decisions name it
TENANTS = ("t1", "t2")
AGENTS = ("a1", "a2", "a3", "a4")
SKILLS = ("en", "fr", "de")
REGIONS = ("eu", "uk", "us")
CHANNELS = ("chat", "phone", "email")
QUEUES = tuple(q.name for q in POLICY.queues)


def operations(grab: bool = False) -> Any:
    """Random sequences: a roster of agents, then up to 30 operations (``grab``: tickets of
    the pull queues mostly, and claims, pool reads, releases, timers and time)."""
    tenant, agent, index = st.sampled_from(TENANTS), st.sampled_from(AGENTS), st.integers(0, 99)
    queue, priority = st.sampled_from(QUEUES), st.integers(1, 5)
    profile = {
        "status": st.sampled_from(("available",) * 4 + STATUSES),
        "skills": st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1),
        "regions": st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True),
        "capacity": st.fixed_dictionaries({ch: st.integers(0, 3) for ch in CHANNELS}),
        "performance": st.sampled_from([0.1, 0.5, 0.9, 1.0, 1 / 3, 2 / 3]),
        "team": st.sampled_from(["", "x", "y", "z"]),
    }
    if grab:  # agents who can claim: available, speaking en, some capacity
        profile["status"] = st.sampled_from(("available",) * 6 + STATUSES)
        profile["skills"] = st.dictionaries(
            st.sampled_from(SKILLS), st.integers(1, 5), min_size=1
        ).map(lambda s: {"en": 2, **s})
        profile["capacity"] = st.fixed_dictionaries({ch: st.integers(1, 3) for ch in CHANNELS})
    fields = st.fixed_dictionaries({}, optional=profile)
    roster = st.lists(
        st.tuples(tenant, agent, st.fixed_dictionaries(profile)), min_size=2, max_size=8
    )
    ticket = st.fixed_dictionaries(
        {
            "channel": st.sampled_from(CHANNELS),
            "priority": priority,
            "tier": st.sampled_from(
                ["grab", "grab2", "grab2", "standard"]
                if grab
                else ["vip", "standard", "standard", "team", "grab", "grab2"]
            ),
            "skills": st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=1),
            "region": st.none() | st.none() | st.sampled_from(REGIONS),
            "preferred_agent": st.none() | agent,
            "age_ms": st.integers(0, 150_000),
        }
    )
    op = st.one_of(
        st.tuples(st.just("agent"), tenant, agent, fields),
        st.tuples(
            st.just("assign"),
            st.lists(st.tuples(tenant, ticket, st.booleans(), index), min_size=1, max_size=6),
        ),
        st.tuples(st.just("release"), tenant, index),
        st.tuples(st.just("claim"), tenant, agent),
        st.tuples(st.just("claim_one"), tenant, agent, index | st.just("ghost")),
        st.tuples(st.just("pool"), tenant, agent, st.integers(0, 4)),
        st.tuples(st.just("accept"), tenant, index),
        st.tuples(st.just("decline"), tenant, index, st.booleans()),
        st.tuples(st.just("reassign"), tenant, index, agent, st.booleans()),
        st.tuples(st.just("pause"), tenant, queue, st.booleans()),
        # the agent logs out (True) or goes away and its open tickets are handed over
        st.tuples(st.just("handover"), tenant, agent, st.booleans()),
        # an away timer at now + delay (0: removed)
        st.tuples(st.just("away_timer"), tenant, agent, queue, st.sampled_from([0, 5_000])),
        st.tuples(st.just("timers"), tenant, st.integers(1, 5)),
        st.tuples(st.just("reopen"), tenant, index),
        st.tuples(st.just("reroute"), tenant, index, st.none() | queue, st.none() | priority),
        st.tuples(st.just("advance"), st.integers(1, 60_000)),
        # a shift from now + start for length ms (start < 0: already on shift), or none
        st.tuples(
            st.just("shift"), tenant, agent, st.integers(-60_000, 60_000), st.integers(0, 90_000)
        ),
    )
    if grab:
        op = st.one_of(
            st.tuples(
                st.just("assign"),
                st.lists(st.tuples(tenant, ticket, st.booleans(), index), min_size=1, max_size=6),
            ),
            st.tuples(st.just("claim"), tenant, agent),
            st.tuples(st.just("claim_one"), tenant, agent, index | st.just("ghost")),
            st.tuples(st.just("claim_one"), tenant, agent, index),
            st.tuples(st.just("pool"), tenant, agent, st.integers(0, 4)),
            st.tuples(st.just("release"), tenant, index),
            st.tuples(st.just("timers"), tenant, st.integers(1, 5)),
            st.tuples(st.just("advance"), st.integers(1, 60_000)),
            st.tuples(st.just("agent"), tenant, agent, fields),
            st.tuples(st.just("pause"), tenant, queue, st.booleans()),
            st.tuples(st.just("decline"), tenant, index, st.booleans()),
        )
    roster_ops = roster.map(lambda r: [("agent", *entry) for entry in r])
    ops = st.lists(op, min_size=8 if grab else 1, max_size=30)
    return st.tuples(roster_ops, ops).map(lambda p: p[0] + p[1])


class Twin:
    """Applies each operation to both stores and checks they agree."""

    def __init__(self, memory: AgentStore, redis: AgentStore) -> None:
        self.stores = (memory, redis)
        self.now = NOW
        self.tickets: dict[str, list[Ticket]] = {t: [] for t in TENANTS}
        self.serial = 0

    def both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on both stores: the answers must be equal, or both must raise the
        same engine error (an unknown ticket or agent); then ``None``."""
        answers = []
        for s in self.stores:
            try:
                answers.append(getattr(s, method)(*args, **kwargs))
            except EngineError as exc:
                answers.append(type(exc))
        mem, red = answers
        assert red == mem, f"{method}{args!r}:\n memory {mem!r}\n redis  {red!r}"
        return None if isinstance(mem, type) else mem

    def pick(self, tenant: str, index: int) -> Ticket | None:
        known = self.tickets[tenant]
        return known[index % len(known)] if known else None

    def request(self, t: Ticket, cooloff: Cooloff = (), **over: Any) -> Request:
        r = route(t, POLICY, self.now, cooloff=cooloff, **over).request
        assert r is not None  # "general" matches everything
        return r

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, *a = op
        memory = self.stores[0]
        if kind == "advance":
            self.now += a[0]
        elif kind == "agent":
            self.both("update_agent", a[0], a[1], a[2], self.now)
        elif kind == "assign":
            items = []
            for tenant, spec, reuse, index in a[0]:
                t = self.pick(tenant, index) if reuse else None
                if t is None:
                    self.serial += 1
                    spec = dict(spec)
                    age = spec.pop("age_ms")
                    t = Ticket(id=f"T{self.serial}", tenant=tenant, ts=self.now - age, **spec)
                    self.tickets[tenant].append(t)
                items.append((self.request(t), {"id": t.id, "ts": t.ts}))
            self.both("assign", items, self.now)
        elif kind == "claim":
            self.both("claim", a[0], a[1], self.now)
        elif kind == "claim_one":  # a named ticket (or one nobody knows)
            t = self.pick(a[0], a[2]) if isinstance(a[2], int) else None
            self.both("claim", a[0], a[1], self.now, t.id if t else "ghost{x}|y")
        elif kind == "pool":
            self.both("pool", a[0], a[1], self.now, a[2])
        elif kind == "shift":
            start, length = self.now + a[2], a[3]
            hours = {"schedule": "day", "shift_start_ms": start, "shift_end_ms": start + length}
            if not length:
                hours = {"schedule": "", "shift_start_ms": 0, "shift_end_ms": 0}
            self.both("update_agent", a[0], a[1], hours, self.now, create=False)
        elif kind == "pause":
            self.both("set_paused", a[0], a[1], a[2], self.now)
        elif kind == "timers":
            self.fire_timers(a[0], a[1])
        elif kind == "handover":
            status = "offline" if a[2] else "away"
            self.both("update_agent", a[0], a[1], {"status": status}, self.now, create=False)
            self.hand_over(a[0], a[1], "logout" if a[2] else "away", status)
        elif kind == "away_timer":
            member = timer_member(TIMER_HANDOVER, a[2], a[1])
            due = self.now + a[3] if a[3] else 0
            self.both("away_timers", a[0], [(member, due)], self.now)
        elif (t := self.pick(a[0], a[1])) is not None:
            rec = memory.ticket(t.tenant, t.id)
            agent = (rec.agent if rec else None) or "a1"
            if kind == "release":
                self.both("release", t.tenant, t.id, "resolved", self.now)
            elif kind == "accept":
                self.both("accept", t.tenant, t.id, agent, self.now)
            elif kind == "decline":  # the store adds the agent's cool-off
                why = "" if a[2] else "busy"
                request = self.request(t, rec.cooloff if rec else ())
                self.both("decline", t.tenant, t.id, agent, a[2], request, self.now, why=why)
            elif kind == "reassign":
                self.both("reassign", t.tenant, t.id, a[2], "sup", a[3], self.now)
            elif kind == "reopen":
                self.both("reopen", self.request(t), {"id": t.id, "again": True}, self.now)
            elif kind == "reroute":  # escalation, queue move, priority raise
                request = self.request(t, queue_name=a[2], priority=a[3])
                over = {"queue": a[2], "priority": a[3]}
                moved = {k: v for k, v in over.items() if v is not None}
                ev = {"id": t.id, "ts": t.ts, **moved} if moved else None
                self.both("reroute", [request], self.now, [ev])
        self.compare()

    def hand_over(self, tenant: str, agent: str, cause: str, status: str) -> None:
        """The agent's open tickets (as the memory store has them) handed over, in id order."""
        memory = self.stores[0]
        views = {v.agent.id: v for v in memory.agents(tenant)}
        if agent not in views:
            return
        requests = []
        for tid in sorted(t for ids in views[agent].open.values() for t in ids):
            t = next(t for t in self.tickets[tenant] if t.id == tid)
            rec = memory.ticket(tenant, tid)
            requests.append(self.request(t, rec.cooloff if rec else ()))
        self.both("handover", tenant, agent, requests, cause, status, self.now)

    def fire_timers(self, tenant: str, limit: int) -> None:
        for timer in self.both("claim_timers", tenant, self.now, LEASE_MS, limit):
            if timer.kind == TIMER_HANDOVER:  # the dispatcher hands the agent's tickets over
                self.hand_over(tenant, timer.agent, "away", "away")
                self.both("timer_done", timer)
                continue
            if timer.kind == "hours":  # the dispatcher recomputes the shift, the agent pulls
                self.both("update_agent", tenant, timer.agent, {}, self.now, create=False)
                self.both("timer_done", timer)
                continue
            t = next(t for t in self.tickets[tenant] if t.id == timer.ticket_id)
            if timer.kind == "esc":
                self.both("reroute", [self.request(t)], self.now)
            else:
                request = self.request(t)
                self.both("decline", tenant, t.id, timer.agent, True, request, self.now)
            self.both("timer_done", timer)

    def compare(self) -> None:
        for tenant in TENANTS:
            self.both("agents", tenant)
            self.both("waiting", tenant)
            for t in self.tickets[tenant]:
                self.both("ticket", tenant, t.id)
