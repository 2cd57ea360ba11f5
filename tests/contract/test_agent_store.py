"""The AgentStore contract (engine/ports.py), on the in-memory store and on Redis.

Every test runs on both stores (fixture ``store``). test_store_differential.py applies random
operation sequences to both and requires identical decisions and snapshots.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.model import Decision, Request, Ticket
from engine.core.policy import parse_policy
from engine.core.routing import route, waiting_score
from engine.ports import WAIT_SCAN_LIMIT, AgentStore, AgentView
from engine.service import DispatchService

pytestmark = pytest.mark.contract

T = "acme"
NOW = 1_800_000_000_000
LEASE_MS = 1_000


def req(
    tid: str,
    *,
    queue: str = "support",
    strategy: str = "least_loaded",
    priority: int = 3,
    ts: int = NOW,
    channel: str = "chat",
    **extra: Any,
) -> Request:
    score = waiting_score(priority, ts, None)
    return Request(tid, T, queue, strategy, channel, priority, ts, score, **extra)


def login(store: AgentStore, agent_id: str, *, now: int = NOW, **fields: Any) -> list[Decision]:
    base: dict[str, Any] = {"status": "available", "regions": ["eu"], "capacity": {"chat": 2}}
    return store.update_agent(T, agent_id, {**base, **fields}, now)


def assign(store: AgentStore, *reqs: Request, now: int = NOW) -> list[Decision]:
    events = [{"id": r.ticket_id, "tenant": r.tenant, "ts": r.ticket_ts} for r in reqs]
    return store.assign(list(zip(reqs, events, strict=True)), now)


def outcome(ds: list[Decision]) -> list[tuple[str, str, str | None]]:
    return [(d.kind, d.ticket_id, d.agent) for d in ds]


def view(store: AgentStore, agent_id: str) -> AgentView:
    return {v.agent.id: v for v in store.agents(T)}[agent_id]


def waiting_ids(store: AgentStore, queue: str | None = None) -> list[str]:
    return [e.ticket_id for e in store.waiting(T, queue)]


# ---- assignment -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "winner"),
    [
        ("least_loaded", "b"),  # a is half loaded; b and c empty, b idle longer
        ("longest_idle", "b"),  # b never assigned
        ("skill_weighted", "a"),  # a has the highest level
        ("performance_weighted", "c"),  # a 0.9*0.5, b 0.4*1, c 0.5*1
        ("round_robin", "a"),  # no previous pick in the queue: lowest id
    ],
)
def test_each_strategy_picks_its_documented_winner(
    store: AgentStore, strategy: str, winner: str
) -> None:
    # Given a holds one ticket, c was assigned (and released) more recently than anyone
    login(store, "a", skills={"en": 5}, performance=0.9)
    login(store, "b", skills={"en": 2}, performance=0.4)
    login(store, "c", skills={"en": 4}, performance=0.5)
    assign(store, req("P1", queue="prep", preferred_agent="a"))
    assign(store, req("P2", queue="prep", preferred_agent="c"), now=NOW + 1_000)
    store.release(T, "P2", "resolved", NOW + 2_000)
    # When
    [d] = assign(store, req("X", strategy=strategy, skills={"en": 1}), now=NOW + 3_000)
    # Then
    assert (d.kind, d.agent, d.strategy, d.candidates, d.filtered) == (
        "assigned",
        winner,
        strategy,
        3,
        {},
    )
    assert view(store, winner).agent.last_assigned_ms == NOW + 3_000


def test_round_robin_rotates_by_agent_id_across_batches(store: AgentStore) -> None:
    for a in ("c", "a", "b"):
        login(store, a)
    first = assign(store, *(req(f"R{i}", strategy="round_robin") for i in range(4)))
    second = assign(store, req("R9", strategy="round_robin"))
    assert [d.agent for d in first + second] == ["a", "b", "c", "a", "b"]


def test_agent_ids_are_ordered_by_code_point_not_by_locale(store: AgentStore) -> None:
    # Python's str order (= UTF-8 byte order): "B" < "Z" < "a" < "ä" < "é"
    for a in ("é", "a", "Z", "ä", "B"):
        login(store, a)
    ds = assign(store, *(req(f"R{i}", strategy="round_robin") for i in range(6)))
    assert [d.agent for d in ds] == ["B", "Z", "a", "ä", "é", "B"]
    [d] = assign(store, req("L", strategy="longest_idle"))  # B is full, the rest tie: lowest id
    assert d.agent == "Z"


def test_filtered_counts_the_first_failing_rule_of_each_candidate(store: AgentStore) -> None:
    # Given one agent failing each rule, one eligible, and two that are not candidates at all
    en3: dict[str, Any] = {"skills": {"en": 3}}
    login(store, "x", **en3)  # excluded
    login(store, "y", **en3, capacity={"phone": 1})  # no_channel
    login(store, "z", **en3, capacity={"chat": 1})  # capacity (after P)
    login(store, "w", skills={"en": 1})  # skill
    login(store, "v", **en3, regions=["us"])  # region
    login(store, "u", **en3)  # eligible
    login(store, "s", **en3, status="away")  # not available: not a candidate
    login(store, "r", skills={"fr": 5})  # lacks the skill: not a candidate
    assign(store, req("P", queue="prep", preferred_agent="z"))
    # When
    [d] = assign(store, req("X", skills={"en": 2}, regions=("eu",), exclude=("x",)))
    [e] = assign(store, req("Y", preferred_agent="u"))
    # Then
    assert (d.agent, d.candidates) == ("u", 1)
    assert d.filtered == {"excluded": 1, "no_channel": 1, "capacity": 1, "skill": 1, "region": 1}
    assert (e.agent, e.candidates, e.filtered) == ("u", 1, {"not_preferred": 6})


def test_ticket_without_eligible_agent_waits_in_its_queue(store: AgentStore) -> None:
    login(store, "a", regions=["us"])
    [d] = assign(store, req("X", regions=("eu",), priority=2))
    assert (d.kind, d.agent, d.reason, d.filtered) == (
        "queued",
        None,
        "no eligible agent",
        {"region": 1},
    )
    [e] = store.waiting(T)
    assert (e.ticket_id, e.queue, e.priority, e.ticket_ts) == ("X", "support", 2, NOW)
    assert e.score == waiting_score(2, NOW, None)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.agent, rec.ticket["id"]) == ("waiting", None, "X")


def test_batch_never_exceeds_capacity(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 2})
    login(store, "b", capacity={"chat": 1})
    ds = assign(store, *(req(f"X{i}", ts=NOW + i) for i in range(6)))
    assert [d.kind for d in ds] == ["assigned"] * 3 + ["queued"] * 3
    assert (view(store, "a").load("chat"), view(store, "b").load("chat")) == (2, 1)


# ---- pull -------------------------------------------------------------------------------------
def test_release_pulls_waiting_tickets_by_priority_then_age_across_queues(
    store: AgentStore,
) -> None:
    # Given a full agent and four waiting tickets in two queues
    login(store, "a", capacity={"chat": 1})
    assign(store, req("H"))
    assign(
        store,
        req("W1", queue="q1", priority=3, ts=NOW - 5_000),
        req("W2", queue="q2", priority=1, ts=NOW - 1_000),
        req("W3", queue="q1", priority=1, ts=NOW - 2_000),
        req("W4", queue="q2", priority=2, ts=NOW - 9_000),
    )
    # When the agent finishes each ticket in turn
    pulled = []
    for done in ("H", "W3", "W2", "W4"):
        released, taken = store.release(T, done, "resolved", NOW + 1)
        assert (released.kind, released.agent) == ("released", "a")
        pulled.append((taken.ticket_id, taken.step))
    # Then it took them best first
    assert pulled == [(t, "initial|pull") for t in ("W3", "W2", "W4", "W1")]


def test_freed_agent_skips_paused_queues(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("H"), req("W1", queue="q1", priority=1), req("W2", queue="q2", priority=3))
    store.set_paused(T, "q1", True, NOW)
    assert outcome(store.release(T, "H", "resolved", NOW)) == [
        ("released", "H", "a"),
        ("assigned", "W2", "a"),
    ]
    assert store.set_paused(T, "q1", False, NOW) == []  # a is full again
    assert waiting_ids(store) == ["W1"]


def test_login_pulls_waiting_work(store: AgentStore) -> None:
    assign(store, req("W1", ts=NOW - 1), req("W2"), req("W3"))
    ds = login(store, "a", capacity={"chat": 2})
    assert outcome(ds) == [("assigned", "W1", "a"), ("assigned", "W2", "a")]
    assert waiting_ids(store) == ["W3"]


def test_resume_drains_every_waiting_ticket_and_leaves_nothing_to_claim(
    store: AgentStore,
) -> None:
    # Given more paused tickets than one scan takes (WAIT_SCAN_LIMIT)
    login(store, "a", capacity={"chat": 1_000})
    login(store, "b", status="busy")
    store.set_paused(T, "support", True, NOW)
    assign(store, *(req(f"X{i:04d}") for i in range(WAIT_SCAN_LIMIT + 2)))
    # When the queue resumes / Then every ticket reaches the available agent, in order
    out = store.set_paused(T, "support", False, NOW)
    assert [d.ticket_id for d in out] == [f"X{i:04d}" for i in range(WAIT_SCAN_LIMIT + 2)]
    # And a claim (agent pull) finds nothing left, for any agent
    assert store.claim(T, "a", NOW) == []
    assert store.claim(T, "b", NOW) == []


# ---- idempotency ------------------------------------------------------------------------------
def test_assigning_a_known_ticket_is_a_duplicate_without_extra_load(store: AgentStore) -> None:
    login(store, "a")
    assign(store, req("X"))
    again, in_batch = assign(store, req("X"), req("X"))
    for d in (again, in_batch):
        assert (d.kind, d.agent, d.duplicate, d.reason) == ("assigned", "a", True, "duplicate")
    assert view(store, "a").open == {"chat": ("X",)}
    store.release(T, "X", "resolved", NOW)
    [after_close] = assign(store, req("X"))
    assert (after_close.kind, after_close.agent, after_close.duplicate) == ("released", None, True)


def test_releasing_twice_changes_nothing_the_second_time(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("X"), req("W"))
    assert outcome(store.release(T, "X", "resolved", NOW)) == [
        ("released", "X", "a"),
        ("assigned", "W", "a"),
    ]
    assert store.release(T, "X", "resolved", NOW) == []
    assert store.release(T, "unknown", "resolved", NOW) == []
    assert view(store, "a").open == {"chat": ("W",)}


# ---- offers -----------------------------------------------------------------------------------
def offer_req(tid: str) -> Request:
    return req(tid, offer_timeout_ms=20_000, offer_max_misses=2)


def test_accepted_offer_becomes_an_assignment(store: AgentStore) -> None:
    login(store, "a")
    [d] = assign(store, offer_req("X"))
    assert (d.kind, d.agent) == ("offered", "a")
    [e] = store.accept(T, "X", "a", NOW + 1)
    assert (e.kind, e.agent, e.step) == ("assigned", "a", "accepted")
    assert store.accept(T, "X", "a", NOW + 2) == []
    assert store.claim_timers(T, NOW + 20_000, LEASE_MS, 10) == []  # offer timer gone


def test_rejected_offer_goes_to_the_next_agent(store: AgentStore) -> None:
    login(store, "a")
    login(store, "b")
    assign(store, offer_req("X"))
    ds = store.decline(T, "X", "a", False, offer_req("X"), NOW + 1)
    assert outcome(ds) == [("released", "X", "a"), ("offered", "X", "b")]
    assert ds[0].reason == "offer rejected"
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.agent, rec.exclude) == ("offered", "b", ("a",))
    assert store.decline(T, "X", "a", False, offer_req("X"), NOW + 2) == []  # not a's any more


def test_offer_time_outs_count_misses_and_set_the_agent_away(store: AgentStore) -> None:
    login(store, "a")
    login(store, "b", capacity={"chat": 1})
    for n, tid in enumerate(("X", "Y"), start=1):
        now = NOW + n * 100_000
        [d] = assign(store, offer_req(tid), now=now)
        assert d.agent == "a"
        # When the offer timer fires
        [timer] = store.claim_timers(T, now + 20_000, LEASE_MS, 10)
        assert (timer.kind, timer.ticket_id, timer.agent, timer.due_ms) == (
            "offer",
            tid,
            "a",
            now + 20_000,
        )
        ds = store.decline(T, tid, "a", True, offer_req(tid), now + 20_000)
        store.timer_done(timer)
        # Then a counts a miss, the ticket moves on (to b while b has room)
        assert (ds[0].reason, view(store, "a").misses) == ("offer timed out", n)
        store.accept(T, tid, "b", now + 20_001)
    assert [d.kind for d in ds] == ["released", "queued"]  # b is full, a excluded
    assert view(store, "a").agent.status == "away"
    login(store, "a")
    assert (view(store, "a").misses, view(store, "a").agent.status) == (0, "available")


# ---- supervisor moves -------------------------------------------------------------------------
def test_reassign_needs_spare_capacity_unless_forced(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    login(store, "b", capacity={"chat": 1})
    assign(store, req("X", preferred_agent="a"), req("Y", preferred_agent="b"))
    assign(store, req("W", preferred_agent="a"))  # waits for a
    [no] = store.reassign(T, "X", "b", "sue", False, NOW + 1)
    assert (no.kind, no.agent, no.forced, no.supervisor) == ("rejected", "b", False, "sue")
    assert no.reason == "target agent has no spare capacity (use force)"
    moved, pulled = store.reassign(T, "X", "b", "sue", True, NOW + 2)
    assert (moved.kind, moved.agent, moved.reason, moved.forced) == (
        "reassigned",
        "b",
        "from a",
        True,
    )
    assert (pulled.kind, pulled.ticket_id, pulled.agent) == ("assigned", "W", "a")
    assert view(store, "b").load("chat") == 2  # over capacity, only by force


@pytest.mark.parametrize(
    ("ticket_id", "target", "reason"),
    [
        ("X", "zz", "unknown agent 'zz'"),
        ("X", "a", "already with that agent"),
        ("C", "a", "ticket is not open"),
        ("nope", "a", "ticket is not open"),
    ],
)
def test_reassign_refusals(store: AgentStore, ticket_id: str, target: str, reason: str) -> None:
    login(store, "a")
    assign(store, req("X"), req("C"))
    store.release(T, "C", "resolved", NOW)
    [d] = store.reassign(T, ticket_id, target, "sue", False, NOW + 1)
    assert (d.kind, d.ticket_id, d.agent, d.reason) == ("rejected", ticket_id, target, reason)


# ---- queues -----------------------------------------------------------------------------------
def test_paused_queue_holds_tickets_until_resumed(store: AgentStore) -> None:
    login(store, "a")
    assert store.set_paused(T, "support", True, NOW) == []
    [d] = assign(store, req("X"))
    assert (d.kind, d.reason, d.candidates) == ("queued", "queue paused", 1)
    assert store.claim(T, "a", NOW) == []
    assert outcome(store.set_paused(T, "support", False, NOW + 1)) == [("assigned", "X", "a")]
    assert store.set_paused(T, "support", False, NOW + 2) == []


LADDER = parse_policy(
    {
        "version": 1,
        "regions": {
            "eu": {"neighbors": ["uk"]},
            "uk": {"neighbors": ["eu"]},
            "us": {"neighbors": []},
        },
        "queues": [
            {
                "name": "support",
                "strategy": "least_loaded",
                "region_ladder": [
                    {"after_s": 30, "widen": "neighbors"},
                    {"after_s": 120, "widen": "any"},
                ],
            }
        ],
    }
)


def test_escalation_widening_regions_lets_a_waiting_ticket_be_assigned(store: AgentStore) -> None:
    # Given a ticket from eu and only an agent in us
    login(store, "a", regions=["us"])
    ticket = Ticket(id="X", tenant=T, ts=NOW, channel="chat", priority=3, region="eu")
    [d] = store.assign([(route(ticket, LADDER, NOW).request, {"id": "X"})], NOW)  # type: ignore[list-item]
    assert d.kind == "queued"
    steps = []
    for at in (NOW + 30_000, NOW + 120_000):
        # When the escalation timer fires, the ticket is routed again
        [timer] = store.claim_timers(T, at, LEASE_MS, 10)
        assert (timer.kind, timer.ticket_id, timer.due_ms) == ("esc", "X", at)
        request = route(ticket, LADDER, at).request
        assert request is not None
        steps += [(e.kind, e.step, e.agent) for e in store.reroute([request], at)]
        store.timer_done(timer)
    # Then: neighbours do not help (escalated), any region does
    assert steps == [
        ("escalated", "region:neighbors", None),
        ("assigned", "region:neighbors,region:any", "a"),
    ]
    assert store.reroute([request], NOW + 200_000) == []  # no longer waiting


def test_reopened_ticket_is_routed_again(store: AgentStore) -> None:
    login(store, "a")
    assign(store, req("X"))
    assert store.reopen(req("X"), {"id": "X"}, NOW) == []  # not closed
    store.release(T, "X", "resolved", NOW + 1)
    [d] = store.reopen(req("X", priority=1), {"id": "X", "reopened": True}, NOW + 2)
    assert (d.kind, d.agent, d.priority) == ("assigned", "a", 1)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.ticket) == (
        "assigned",
        {"id": "X", "reopened": True},
    )


# ---- supervisor overrides ---------------------------------------------------------------------
def test_reroute_stores_the_moved_ticket_event_for_later_routes(store: AgentStore) -> None:
    # Given a waiting ticket (nobody logged in)
    assign(store, req("X"))
    moved = {"id": "X", "tenant": T, "ts": NOW, "queue": "vip", "priority": 1}
    # When a queue move / priority raise reroutes it with the updated ticket event
    [d] = store.reroute([req("X", queue="vip", priority=1)], NOW + 1, [moved])
    # Then the request and the event are both stored
    assert (d.kind, d.queue, d.priority) == ("escalated", "vip", 1)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.queue, rec.priority, rec.ticket) == ("vip", 1, moved)
    # And a redelivery changes nothing; a reroute without an event keeps the stored one
    assert store.reroute([req("X", queue="vip", priority=1)], NOW + 1, [moved]) == []
    store.reroute([req("X", queue="vip", priority=1, step="later")], NOW + 2)
    store.reroute([req("X", queue="vip", priority=1, step="x")], NOW + 3, [None])
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.step, rec.ticket) == ("x", moved)
    # And once it is no longer waiting, neither its request nor its event changes
    login(store, "a")
    assert store.reroute([req("X")], NOW + 4, [{"id": "X", "queue": "q2"}]) == []
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.queue, rec.ticket) == ("assigned", "vip", moved)


OVERRIDES = parse_policy(
    {
        "version": 1,
        "regions": {"eu": {"neighbors": ["uk"]}, "uk": {"neighbors": ["eu"]}},
        "queues": [
            {
                "name": "regional",
                "match": {"tier": "regional"},
                "strategy": "round_robin",
                "region_ladder": [{"after_s": 30, "widen": "neighbors"}],
            },
            {
                "name": "experts",
                "match": {"tier": "expert"},
                "strategy": "skill_weighted",
                "skills": {"billing": 4},
                "overflow": {"after_s": 60, "to": "general"},
            },
            {"name": "general", "strategy": "round_robin"},
        ],
    }
)


@pytest.mark.parametrize(
    ("command", "fields", "expect"),
    [
        ("command.move_queue", {"queue": "regional"}, ("regional", 3)),
        ("command.raise_priority", {"priority": 1}, ("general", 1)),
        ("command.move_queue", {"queue": "nope"}, ("general", 3)),  # unknown queue: ignored
    ],
    ids=["move_queue", "raise_priority", "unknown_queue"],
)
def test_escalation_steps_keep_a_supervisors_move_and_raise(
    store: AgentStore, command: str, fields: dict[str, Any], expect: tuple[str, int]
) -> None:
    # Given an expert ticket waiting (nobody logged in), and a supervisor's command on it
    service = DispatchService(store, OVERRIDES)
    base = {"v": 1, "id": "X", "tenant": T, "ts": NOW}
    created = {**base, "type": "ticket.created", "channel": "chat", "priority": 3}
    service.handle([{**created, "tier": "expert", "region": "eu"}], NOW)
    service.handle([{**base, "type": command, "supervisor": "sup", **fields}], NOW + 1)
    # When the escalation timers fire (the regional ladder at 30 s, the overflow at 60 s)
    for at in (NOW + 30_000, NOW + 60_000, NOW + 90_000):
        service.tick(at)
    # Then the command still holds
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.queue, rec.priority) == ("waiting", *expect)


# ---- timers, agents, tenants --------------------------------------------------------------------
def test_timer_re_scheduled_at_exactly_its_lease_end_is_not_done(store: AgentStore) -> None:
    # Given a waiting ticket whose escalation timer is claimed when due
    due = NOW + 30_000
    assign(store, req("X", wake_ms=due))
    [timer] = store.claim_timers(T, due, LEASE_MS, 10)
    # When its holder schedules the next step at exactly the lease end, then marks it done
    [d] = store.reroute([req("X", step="next", wake_ms=due + LEASE_MS)], due)
    assert d.kind == "escalated"
    store.timer_done(timer)
    # Then the next step still fires, under a claim of its own
    [nxt] = store.claim_timers(T, due + LEASE_MS, LEASE_MS, 10)
    assert (nxt.kind, nxt.ticket_id, nxt.due_ms) == ("esc", "X", due + LEASE_MS)
    assert nxt.token != timer.token
    store.timer_done(timer)  # a stale claim removes nothing
    assert store.claim_timers(T, due + 3 * LEASE_MS, LEASE_MS, 10) != []  # nxt's holder died
    [again] = store.claim_timers(T, due + 5 * LEASE_MS, LEASE_MS, 10)
    store.timer_done(nxt)  # superseded by a later claim: removes nothing
    store.timer_done(again)
    assert store.claim_timers(T, due + 10 * LEASE_MS, LEASE_MS, 10) == []


def test_claimed_timer_not_done_is_claimable_again_after_its_lease(store: AgentStore) -> None:
    login(store, "a")
    assign(store, offer_req("X"))
    due = NOW + 20_000
    assert store.claim_timers(T, due - 1, LEASE_MS, 10) == []
    [first] = store.claim_timers(T, due, LEASE_MS, 10)
    assert store.claim_timers(T, due + LEASE_MS - 1, LEASE_MS, 10) == []  # leased
    [second] = store.claim_timers(T, due + LEASE_MS, LEASE_MS, 10)  # holder died
    assert (second.ticket_id, second.due_ms) == ("X", due + LEASE_MS)
    assert second.token != first.token
    store.timer_done(first)  # a stale claim removes nothing
    [third] = store.claim_timers(T, due + 2 * LEASE_MS, LEASE_MS, 10)
    store.timer_done(third)
    assert store.claim_timers(T, due + 10 * LEASE_MS, LEASE_MS, 10) == []


def test_agent_update_merges_the_given_fields(store: AgentStore) -> None:
    login(store, "a", skills={"en": 3}, performance=0.25, team="blue")
    store.update_agent(T, "a", {"skills": {"fr": 2}, "capacity": {"chat": 3, "phone": 1}}, NOW)
    a = view(store, "a").agent
    assert (a.status, a.skills, a.regions, a.team, a.performance) == (
        "available",
        {"fr": 2},
        ("eu",),
        "blue",
        0.25,
    )
    assert a.capacity == {"chat": 3, "phone": 1}
    [d] = assign(store, req("X", skills={"fr": 1}))
    assert d.agent == "a"
    [e] = assign(store, req("Y", skills={"en": 1}))
    assert (e.kind, e.candidates) == ("queued", 0)


def test_tenants_lists_every_pool(store: AgentStore) -> None:
    store.update_agent("zeta", "a", {"status": "busy"}, NOW)
    login(store, "a")
    assert store.tenants() == [T, "zeta"]
    assert [v.agent.id for v in store.agents("zeta")] == ["a"]
