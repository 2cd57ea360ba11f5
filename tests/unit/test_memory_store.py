"""DispatchService on MemoryAgentStore with a SimClock: the store contract, scenario by scenario."""

from __future__ import annotations

from typing import Any

import pytest

from engine.adapters.memory import MemoryAgentStore, SimClock
from engine.core.model import Decision
from engine.core.policy import parse_policy
from engine.ports import ASSIGNED, CLOSED, OFFERED, WAIT_SCAN_LIMIT, WAITING
from engine.service import DispatchService

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
S = 1000
TENANT = "acme"

POLICY: dict[str, Any] = {
    "version": 1,
    "regions": {
        "eu": {"neighbors": ["eu2"]},
        "eu2": {"neighbors": ["eu"]},
        "us": {"neighbors": []},
    },
    "queues": [
        {
            "name": "offers",
            "match": {"tier": "offer"},
            "strategy": "round_robin",
            "offer": {"timeout_s": 10, "max_misses": 2},
        },
        {
            "name": "regional",
            "match": {"tier": "regional"},
            "strategy": "round_robin",
            "region_ladder": [
                {"after_s": 30, "widen": "neighbors"},
                {"after_s": 120, "widen": "any"},
            ],
        },
        {
            "name": "experts",
            "match": {"tier": "expert"},
            "strategy": "skill_weighted",
            "skills": {"billing": 4},
            "overflow": {"after_s": 60, "to": "general"},
        },
        {
            "name": "sticky",
            "match": {"tier": "sticky"},
            "strategy": "round_robin",
            "sticky": {"after_s": 60},
        },
        {"name": "vip", "match": {"tier": "vip"}, "strategy": "least_loaded"},
        {"name": "general", "match": {"tier": ["standard", "expert"]}, "strategy": "round_robin"},
    ],
}


class Desk:
    """A dispatch service on the in-memory store, driven event by event on a SimClock."""

    def __init__(self, policy: dict[str, Any] | None = None) -> None:
        self.clock = SimClock(T0)
        self.store = MemoryAgentStore()
        self.service = DispatchService(self.store, parse_policy(policy or POLICY))

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def send(self, typ: str, oid: str, **fields: Any) -> list[Decision]:
        ev = {"v": 1, "type": typ, "id": oid, "tenant": TENANT, "ts": self.now, **fields}
        return self._published(self.service.handle([ev], self.now))

    def login(self, agent: str, **fields: Any) -> list[Decision]:
        defaults: dict[str, Any] = {"capacity": {"chat": 1}, "regions": ["eu"], "skills": {}}
        return self.send("agent.login", agent, **{**defaults, **fields})

    def create(self, tid: str, **fields: Any) -> list[Decision]:
        defaults: dict[str, Any] = {"channel": "chat", "priority": 3, "tier": "standard"}
        return self.send("ticket.created", tid, **{**defaults, **fields})

    def later(self, seconds: float) -> list[Decision]:
        """Advance the clock and fire due timers."""
        self.clock.advance(int(seconds * S))
        return self._published(self.service.tick(self.now))

    def _published(self, decisions: list[Decision]) -> list[Decision]:
        """Acknowledge the decisions as a dispatcher does after producing them."""
        for d in decisions:
            if d.seq:
                self.store.outbox_ack(d.tenant, [(d.ticket_id, d.seq)])
        return decisions

    def load(self, agent: str, channel: str = "chat") -> int:
        return next(v.load(channel) for v in self.store.agents(TENANT) if v.agent.id == agent)

    def status(self, agent: str) -> str:
        return next(v.agent.status for v in self.store.agents(TENANT) if v.agent.id == agent)

    def misses(self, agent: str) -> int:
        return next(v.misses for v in self.store.agents(TENANT) if v.agent.id == agent)

    def state(self, tid: str) -> tuple[str, str | None]:
        rec = self.store.ticket(TENANT, tid)
        assert rec is not None
        return rec.state, rec.agent

    def waiting_ids(self) -> list[str]:
        return [w.ticket_id for w in self.store.waiting(TENANT)]


def kinds(decisions: list[Decision]) -> list[tuple[str, str, str | None]]:
    return [(d.kind, d.ticket_id, d.agent) for d in decisions]


# ---- assignment and queueing ---------------------------------------------------------------


def test_new_ticket_is_assigned_to_an_available_agent_and_counts_as_load() -> None:
    # Given one available agent
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    # When a ticket arrives
    [d] = desk.create("t1")
    # Then it is assigned to her, the decision explains it, and her load is 1
    assert (d.kind, d.agent, d.queue, d.strategy, d.candidates) == (
        "assigned",
        "ann",
        "general",
        "round_robin",
        1,
    )
    assert (d.ticket_ts, d.priority, d.channel, d.step) == (T0, 3, "chat", "initial")
    assert desk.state("t1") == (ASSIGNED, "ann")
    assert desk.load("ann") == 1


def test_ticket_waits_when_no_agent_is_eligible_and_decision_counts_filters() -> None:
    # Given agents that are away, full, or lack the channel
    desk = Desk()
    desk.login("ann")
    desk.create("t0")  # fills ann
    desk.login("bob", status="away")
    desk.login("cat", capacity={"phone": 1})
    # When a chat ticket arrives
    [d] = desk.create("t1")
    # Then it is queued, with the first failing rule of each examined agent counted
    assert (d.kind, d.agent, d.reason) == ("queued", None, "no eligible agent")
    assert d.filtered == {"capacity": 1, "no_channel": 1}
    assert d.candidates == 0
    assert desk.state("t1") == (WAITING, None)
    assert desk.waiting_ids() == ["t1"]


def test_capacity_is_never_exceeded_by_routing() -> None:
    # Given an agent with capacity 2 on chat
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    # When three chats arrive
    out = [d for t in ("t1", "t2", "t3") for d in desk.create(t)]
    # Then two are assigned and the third waits
    assert kinds(out) == [
        ("assigned", "t1", "ann"),
        ("assigned", "t2", "ann"),
        ("queued", "t3", None),
    ]
    assert desk.load("ann") == 2


def test_capacity_is_per_channel() -> None:
    # Given an agent full on phone but free on chat
    desk = Desk()
    desk.login("ann", capacity={"phone": 1, "chat": 1})
    desk.create("p1", channel="phone")
    # When a chat arrives / Then she still takes it
    [d] = desk.create("c1", channel="chat")
    assert (d.kind, d.agent) == ("assigned", "ann")
    assert (desk.load("ann", "phone"), desk.load("ann", "chat")) == (1, 1)


def test_round_robin_rotates_over_agents() -> None:
    # Given three agents with room for several chats
    desk = Desk()
    for a in ("ann", "bob", "cat"):
        desk.login(a, capacity={"chat": 5})
    # When five chats arrive / Then they go round in id order
    agents = [desk.create(f"t{i}")[0].agent for i in range(5)]
    assert agents == ["ann", "bob", "cat", "ann", "bob"]


def test_ticket_matching_no_queue_is_unassignable_and_not_stored() -> None:
    # Given a policy whose queues all need a known tier
    desk = Desk()
    desk.login("ann")
    # When a ticket of another tier arrives
    [d] = desk.create("t1", tier="bronze")
    # Then it is explicitly unassignable and nobody's load changes
    assert (d.kind, d.reason) == ("unassignable", "no queue matches")
    assert desk.store.ticket(TENANT, "t1") is None
    assert desk.load("ann") == 0


# ---- pulling waiting work --------------------------------------------------------------------


def test_freed_agent_pulls_waiting_tickets_by_priority_then_age() -> None:
    # Given a busy agent and tickets waiting with several priorities and ages
    desk = Desk()
    desk.login("ann")
    desk.create("busy")
    desk.create("p3-old", priority=3, ts=T0 - 50 * S)
    desk.create("p3-new", priority=3, ts=T0 - 10 * S)
    desk.create("p1-new", priority=1, ts=T0 - 1 * S)
    desk.create("p5-oldest", priority=5, ts=T0 - 500 * S)
    assert desk.waiting_ids() == ["p1-new", "p3-old", "p3-new", "p5-oldest"]
    # When she resolves each ticket in turn
    pulled = []
    current = "busy"
    for _ in range(4):
        out = desk.send("ticket.resolved", current, agent="ann")
        assert out[0].kind == "released"
        [nxt] = out[1:]
        assert (nxt.kind, nxt.agent) == ("assigned", "ann") and nxt.step.endswith("|pull")
        current = nxt.ticket_id
        pulled.append(current)
    # Then she pulls the most urgent first, oldest first within a priority
    assert pulled == ["p1-new", "p3-old", "p3-new", "p5-oldest"]


def test_freed_agent_skips_waiting_tickets_she_may_not_take() -> None:
    # Given a busy agent without the skill an older ticket needs
    desk = Desk()
    desk.login("ann", skills={"billing": 1})
    desk.create("busy")
    desk.create("needs-skill", skills={"billing": 3}, ts=T0 - 100 * S)
    desk.create("plain", ts=T0 - 5 * S)
    # When she is freed
    out = desk.send("ticket.resolved", "busy")
    # Then she takes the ticket she can handle and the other keeps waiting
    assert kinds(out[1:]) == [("assigned", "plain", "ann")]
    assert desk.waiting_ids() == ["needs-skill"]


@pytest.mark.parametrize(
    ("before", "event", "fields"),
    [
        (None, "agent.login", {"capacity": {"chat": 2}}),
        ({"status": "away", "capacity": {"chat": 2}}, "agent.status", {"status": "available"}),
        ({"capacity": {"chat": 0}}, "agent.update", {"capacity": {"chat": 2}}),
    ],
    ids=["login", "back from a break", "capacity raised"],
)
def test_agent_becoming_able_to_take_work_pulls_waiting_tickets(
    before: dict[str, Any] | None, event: str, fields: dict[str, Any]
) -> None:
    # Given two tickets waiting and an agent who cannot take them yet
    desk = Desk()
    desk.create("t1", ts=T0 - 2 * S)
    desk.create("t2", ts=T0 - 1 * S)
    if before is not None:
        assert desk.login("ann", **before) == []
    # When the event gives her room for two
    out = desk.send(event, "ann", **fields)
    # Then she pulls both at once, oldest first
    assert kinds(out) == [("assigned", "t1", "ann"), ("assigned", "t2", "ann")]
    assert desk.waiting_ids() == []


def test_logout_stops_new_work_but_keeps_the_agents_open_tickets() -> None:
    # Given an agent with an open ticket
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    desk.create("t1")
    # When she logs out and a new ticket arrives
    desk.send("agent.logout", "ann")
    [d] = desk.create("t2")
    # Then she gets nothing new, and her open ticket stays hers
    assert d.kind == "queued" and d.filtered == {}
    assert desk.status("ann") == "offline"
    assert desk.state("t1") == (ASSIGNED, "ann")


# ---- offers ----------------------------------------------------------------------------------


def test_offer_accepted_becomes_an_assignment() -> None:
    # Given an offer queue and one agent
    desk = Desk()
    desk.login("ann")
    [d] = desk.create("t1", tier="offer")
    assert (d.kind, d.agent) == ("offered", "ann")
    assert desk.state("t1") == (OFFERED, "ann") and desk.load("ann") == 1
    # When she accepts
    [acc] = desk.send("ticket.accepted", "t1", agent="ann")
    # Then the ticket is assigned to her, with the same load
    assert (acc.kind, acc.agent, acc.step) == ("assigned", "ann", "accepted")
    assert desk.state("t1") == (ASSIGNED, "ann") and desk.load("ann") == 1
    # And the offer timer no longer fires
    assert desk.later(60) == []


def test_offer_rejected_goes_to_the_next_agent_and_excludes_the_first() -> None:
    # Given two agents and an offered ticket
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    [d] = desk.create("t1", tier="offer")
    assert d.agent == "ann"
    # When ann rejects it
    out = desk.send("ticket.rejected", "t1", agent="ann")
    # Then it is released from her and offered to bob; she is excluded from now on
    assert kinds(out) == [("released", "t1", "ann"), ("offered", "t1", "bob")]
    assert out[0].reason == "offer rejected"
    rec = desk.store.ticket(TENANT, "t1")
    assert rec is not None and rec.exclude == ("ann",)
    assert desk.load("ann") == 0 and desk.misses("ann") == 0
    # And when bob rejects too, nobody is left: it waits and never goes back to ann
    out = desk.send("ticket.rejected", "t1", agent="bob")
    assert kinds(out) == [("released", "t1", "bob"), ("queued", "t1", None)]
    assert out[1].filtered == {"excluded": 2}
    assert desk.state("t1") == (WAITING, None)


def test_agent_who_rejects_an_offer_pulls_other_waiting_work() -> None:
    # Given ann, full with an offer, and a plain ticket waiting
    desk = Desk()
    desk.login("ann")
    desk.create("offer", tier="offer")
    desk.create("plain")
    assert desk.waiting_ids() == ["plain"]
    # When she rejects the offer
    out = desk.send("ticket.rejected", "offer", agent="ann")
    # Then the offer waits (she is excluded) and she takes the plain ticket
    assert kinds(out) == [
        ("released", "offer", "ann"),
        ("queued", "offer", None),
        ("assigned", "plain", "ann"),
    ]


def test_rejection_by_an_agent_not_holding_the_offer_is_ignored() -> None:
    # Given an offer to ann / When bob rejects it / Then nothing happens
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1", tier="offer")
    assert desk.send("ticket.rejected", "t1", agent="bob") == []
    assert desk.send("ticket.accepted", "t1", agent="bob") == []
    assert desk.state("t1") == (OFFERED, "ann")


def test_offer_timeout_counts_a_miss_and_max_misses_set_the_agent_away() -> None:
    # Given an offer queue with a 10 s time-out and max_misses 2, and two agents
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.login("bob", capacity={"chat": 5})
    desk.create("t1", tier="offer")  # ann
    desk.create("t2", tier="offer")  # bob
    desk.create("t3", tier="offer")  # ann
    # When 9.999 s pass / Then nothing times out yet
    assert desk.later(9.999) == []
    # When the time-out passes
    out = desk.later(0.001)
    # Then each offer is released as timed out and offered to the other agent
    released = [(d.ticket_id, d.agent) for d in out if d.kind == "released"]
    offered = [(d.ticket_id, d.agent) for d in out if d.kind == "offered"]
    assert sorted(released) == [("t1", "ann"), ("t2", "bob"), ("t3", "ann")]
    assert sorted(offered) == [("t1", "bob"), ("t2", "ann"), ("t3", "bob")]
    assert all(d.reason == "offer timed out" for d in out if d.kind == "released")
    # And ann missed two offers in a row: she is away; bob missed one
    assert (desk.status("ann"), desk.misses("ann")) == ("away", 2)
    assert (desk.status("bob"), desk.misses("bob")) == ("available", 1)


def test_accepting_an_offer_resets_the_miss_count() -> None:
    # Given ann missed one offer
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.create("t1", tier="offer")
    desk.later(10)
    assert desk.misses("ann") == 1
    # When she accepts the next one
    desk.create("t2", tier="offer")
    desk.send("ticket.accepted", "t2", agent="ann")
    # Then her count starts again
    assert desk.misses("ann") == 0


def test_agent_back_available_has_missed_offers_forgiven() -> None:
    # Given ann was set away after two missed offers
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.create("t1", tier="offer")
    desk.later(10)
    desk.create("t2", tier="offer")
    desk.later(10)
    assert desk.status("ann") == "away"
    # When she comes back / Then her misses are reset
    desk.send("agent.status", "ann", status="available")
    assert (desk.status("ann"), desk.misses("ann")) == ("available", 0)


# ---- agent pull (claim) ----------------------------------------------------------------------


def test_claim_takes_nothing_when_nothing_waits_that_the_agent_may_take() -> None:
    # Given a free agent and a waiting ticket she lacks the skill for
    desk = Desk()
    desk.login("ann")
    desk.create("t1", skills={"tech": 3})
    # When she claims / Then no decision, and the ticket still waits
    assert desk.send("command.claim", "ann") == []
    assert desk.waiting_ids() == ["t1"]


@pytest.mark.parametrize("status", ["away", "busy", "offline"])
def test_claim_by_an_unavailable_agent_takes_nothing(status: str) -> None:
    # Given a waiting ticket and an agent who is not available
    desk = Desk()
    desk.create("t1")
    desk.login("ann", status=status)
    # When she claims / Then she gets nothing
    assert desk.send("command.claim", "ann") == []
    assert desk.waiting_ids() == ["t1"]


def test_claim_by_an_agent_at_capacity_takes_nothing() -> None:
    # Given a full agent and a waiting ticket
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    # When she claims / Then she gets nothing
    assert desk.send("command.claim", "ann") == []
    assert desk.load("ann") == 1


# ---- supervisors -----------------------------------------------------------------------------


def test_reassign_without_force_needs_spare_capacity_on_the_target() -> None:
    # Given two agents, each full
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1")  # ann
    desk.create("t2")  # bob
    # When a supervisor moves bob's ticket to ann without force
    [d] = desk.send("command.reassign", "t2", to_agent="ann", supervisor="sup")
    # Then it is refused with the reason, audited, and nothing changes
    assert (d.kind, d.agent, d.supervisor, d.forced) == ("rejected", "ann", "sup", False)
    assert "no spare capacity" in d.reason
    assert desk.state("t2") == (ASSIGNED, "bob")
    assert (desk.load("ann"), desk.load("bob")) == (1, 1)


def test_reassign_moves_the_ticket_and_the_previous_agent_pulls_work() -> None:
    # Given ann holds t1, t2 waits, and cat (busy on other work) has a free chat slot
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    desk.login("cat", status="busy")
    # When a supervisor moves t1 from ann to cat
    out = desk.send("command.reassign", "t1", to_agent="cat", supervisor="sup")
    # Then t1 is reassigned, recorded as from ann, and ann pulls the waiting t2
    assert kinds(out) == [("reassigned", "t1", "cat"), ("assigned", "t2", "ann")]
    assert (out[0].supervisor, out[0].forced, out[0].reason) == ("sup", False, "from ann")
    assert desk.state("t1") == (ASSIGNED, "cat")
    assert (desk.load("ann"), desk.load("cat")) == (1, 1)


def test_force_assign_is_the_only_way_past_capacity_and_is_audited() -> None:
    # Given two full agents
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1")  # ann
    desk.create("t2")  # bob
    # When a supervisor force-assigns bob's ticket to ann
    out = desk.send("command.force_assign", "t2", to_agent="ann", supervisor="sup-9")
    # Then ann holds two tickets on a capacity of one, and the decision says who forced it
    [d] = out
    assert (d.kind, d.agent, d.supervisor, d.forced) == ("reassigned", "ann", "sup-9", True)
    assert d.to_event()["forced"] is True and d.to_event()["supervisor"] == "sup-9"
    assert (desk.load("ann"), desk.load("bob")) == (2, 0)
    # And routing still never adds a third
    desk.send("agent.logout", "bob")
    assert desk.create("t3")[0].kind == "queued"


def test_force_assign_of_a_waiting_ticket_takes_it_out_of_the_queue() -> None:
    # Given a waiting ticket and a full agent
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    # When it is forced onto ann
    [d] = desk.send("command.force_assign", "t2", to_agent="ann", supervisor="sup")
    # Then it is hers and no longer waiting
    assert (d.kind, d.reason) == ("reassigned", "")
    assert desk.waiting_ids() == [] and desk.state("t2") == (ASSIGNED, "ann")


def test_force_assign_of_an_offer_becomes_an_assignment() -> None:
    # Given ticket offered to ann
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1", tier="offer")
    # When forced onto bob / Then it is assigned, and no offer time-out fires later
    desk.send("command.force_assign", "t1", to_agent="bob", supervisor="sup")
    assert desk.state("t1") == (ASSIGNED, "bob")
    assert desk.later(30) == []


@pytest.mark.parametrize(
    ("ticket", "to_agent", "reason"),
    [
        ("t1", "zed", "unknown agent 'zed'"),
        ("t1", "ann", "already with that agent"),
        ("closed", "bob", "ticket is not open"),
        ("never-seen", "bob", "ticket is not open"),
    ],
)
def test_reassign_refusals_are_decisions_with_a_reason(
    ticket: str, to_agent: str, reason: str
) -> None:
    # Given ann holds t1 and a closed ticket exists
    desk = Desk()
    desk.login("ann", capacity={"chat": 3})
    desk.login("bob", capacity={"chat": 3})
    desk.create("t1")
    desk.create("closed")
    desk.send("ticket.closed", "closed")
    # When an impossible move is forced
    [d] = desk.send("command.force_assign", ticket, to_agent=to_agent, supervisor="sup")
    # Then it is rejected with the reason, and loads do not change
    assert (d.kind, d.reason, d.supervisor) == ("rejected", reason, "sup")
    assert (desk.load("ann"), desk.load("bob")) == (1, 0)


def test_paused_queue_holds_tickets_and_resume_drains_them() -> None:
    # Given a paused queue and a free agent
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    assert desk.send("command.pause_queue", "general", supervisor="sup") == []
    # When tickets arrive / Then they wait, even though ann is free
    out = desk.create("t1") + desk.create("t2", priority=1)
    assert [(d.kind, d.reason) for d in out] == [("queued", "queue paused")] * 2
    # And a freed agent does not pull from a paused queue
    desk.send("agent.status", "ann", status="available")
    assert desk.waiting_ids() == ["t2", "t1"]
    # When the queue is resumed / Then its tickets are assigned, most urgent first
    out = desk.send("command.resume_queue", "general", supervisor="sup")
    assert kinds(out) == [("assigned", "t2", "ann"), ("assigned", "t1", "ann")]
    # And resuming again changes nothing
    assert desk.send("command.resume_queue", "general", supervisor="sup") == []


def test_pausing_one_queue_leaves_the_others_running() -> None:
    # Given the vip queue paused / When a standard and a vip ticket arrive
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.send("command.pause_queue", "vip", supervisor="sup")
    out = desk.create("v1", tier="vip") + desk.create("s1")
    # Then only the vip ticket waits
    assert kinds(out) == [("queued", "v1", None), ("assigned", "s1", "ann")]


def test_resume_drains_every_ticket_free_agents_can_take() -> None:
    # Given more paused tickets than one scan covers, and room for all of them
    desk = Desk()
    desk.send("command.pause_queue", "general", supervisor="sup")
    n = WAIT_SCAN_LIMIT + 5
    for i in range(n):
        desk.create(f"t{i:04d}")
    desk.login("ann", capacity={"chat": 10 * n})
    # When the queue is resumed
    desk.send("command.resume_queue", "general", supervisor="sup")
    # Then nothing is left waiting
    assert desk.waiting_ids() == []


def test_raise_priority_command_reorders_the_waiting_queue() -> None:
    # Given two waiting tickets, the younger one behind
    desk = Desk()
    desk.create("old", ts=T0 - 10 * S)
    desk.create("new")
    assert desk.waiting_ids() == ["old", "new"]
    # When a supervisor raises the younger one to priority 1
    [d] = desk.send("command.raise_priority", "new", priority=1, supervisor="sup")
    # Then it is escalated and now first in line
    assert (d.kind, d.priority) == ("escalated", 1)
    assert desk.waiting_ids() == ["new", "old"]
    desk.login("ann")
    assert desk.state("new") == (ASSIGNED, "ann")


def test_move_queue_command_routes_the_waiting_ticket_in_the_new_queue() -> None:
    # Given a ticket waiting for an expert and a free generalist
    desk = Desk()
    desk.login("ann", skills={"billing": 1})
    [d] = desk.create("t1", tier="expert")
    assert (d.kind, d.queue) == ("queued", "experts")
    # When a supervisor moves it to the general queue / Then ann gets it there
    [d] = desk.send("command.move_queue", "t1", queue="general", supervisor="sup")
    assert (d.kind, d.agent, d.queue) == ("assigned", "ann", "general")


def test_commands_for_tickets_not_waiting_are_ignored() -> None:
    # Given an assigned ticket / When moved or raised / Then nothing happens
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    assert desk.send("command.raise_priority", "t1", priority=1, supervisor="s") == []
    assert desk.send("command.move_queue", "t1", queue="vip", supervisor="s") == []
    assert desk.send("command.move_queue", "nope", queue="vip", supervisor="s") == []


@pytest.mark.parametrize(
    ("command", "fields", "expect_queue", "expect_priority"),
    [
        ("command.move_queue", {"queue": "regional"}, "regional", 3),
        ("command.raise_priority", {"priority": 1}, "general", 1),
    ],
    ids=["move_queue", "raise_priority"],
)
def test_escalation_step_keeps_the_supervisors_move_and_raise(
    command: str, fields: dict[str, Any], expect_queue: str, expect_priority: int
) -> None:
    # Given a ticket waiting for an expert, and a supervisor's command on it
    desk = Desk()
    desk.create("t1", tier="expert", region="eu")
    desk.send(command, "t1", supervisor="sup", **fields)
    # When an escalation timer fires (the regional ladder at 30 s, the overflow at 60 s)
    desk.later(30)
    desk.later(30)
    # Then the command still holds
    rec = desk.store.ticket(TENANT, "t1")
    assert rec is not None
    assert (rec.queue, rec.priority) == (expect_queue, expect_priority)


# ---- escalation via timers -------------------------------------------------------------------


def test_region_ladder_lets_a_waiting_ticket_reach_a_neighbour_then_any_region() -> None:
    # Given agents only in a neighbour region and in a far region, busy meanwhile
    desk = Desk()
    desk.login("nina", regions=["eu2"])
    desk.login("sam", regions=["us"])
    # When a ticket from eu arrives / Then nobody in eu: it waits, filtered by region
    [d] = desk.create("t1", tier="regional", region="eu")
    assert (d.kind, d.filtered) == ("queued", {"region": 2})
    # When 29.999 s pass / Then still waiting
    assert desk.later(29.999) == []
    # When the neighbours step is due / Then nina in eu2 gets it
    [d] = desk.later(0.001)
    assert (d.kind, d.agent, d.step) == ("assigned", "nina", "region:neighbors")
    # And a second ticket waits until any region is allowed, then goes to sam in us
    desk.create("t2", tier="regional", region="eu")
    [d] = desk.later(30)
    assert (d.kind, d.agent, d.step) == ("escalated", None, "region:neighbors")
    assert desk.later(89.999) == []
    [d] = desk.later(0.001)
    assert (d.kind, d.agent, d.step) == ("assigned", "sam", "region:neighbors,region:any")


def test_escalation_step_due_exactly_one_lease_later_still_fires() -> None:
    # Given a ladder whose second step comes one timer lease (30 s) after the first,
    # and the only agent in a far region
    policy = {
        "version": 1,
        "regions": {"eu": {"neighbors": ["eu2"]}, "eu2": {}, "us": {}},
        "queues": [
            {
                "name": "q",
                "strategy": "round_robin",
                "region_ladder": [
                    {"after_s": 30, "widen": "neighbors"},
                    {"after_s": 60, "widen": "any"},
                ],
            }
        ],
    }
    desk = Desk(policy)
    desk.login("sam", regions=["us"])
    desk.create("t1", region="eu")
    # When the timers are served exactly on time
    desk.later(30)
    out = desk.later(30)
    # Then the 'any' step fires and sam gets the ticket
    assert kinds(out) == [("assigned", "t1", "sam")]


def test_overflow_moves_a_waiting_ticket_to_another_queue() -> None:
    # Given an expert ticket and only a junior agent
    desk = Desk()
    desk.login("jun", skills={"billing": 2})
    [d] = desk.create("t1", tier="expert")
    assert (d.kind, d.queue, d.filtered) == ("queued", "experts", {"skill": 1})
    # When the overflow time passes
    assert desk.later(59) == []
    [d] = desk.later(1)
    # Then it moved to general, where the junior may take it
    assert (d.kind, d.queue, d.agent, d.step) == ("assigned", "general", "jun", "overflow:general")


def test_overflow_without_an_agent_is_an_escalated_decision() -> None:
    # Given an expert ticket and nobody at all
    desk = Desk()
    desk.create("t1", tier="expert")
    # When it overflows / Then the queue change is published as escalated
    [d] = desk.later(60)
    assert (d.kind, d.queue, d.step) == ("escalated", "general", "overflow:general")
    assert [w.queue for w in desk.store.waiting(TENANT)] == ["general"]


def test_sticky_ticket_waits_for_its_agent_then_falls_back() -> None:
    # Given the preferred agent is busy and another is free
    desk = Desk()
    desk.login("ann")
    desk.create("busy")  # ann
    desk.login("bob")
    # When a ticket preferring ann arrives
    [d] = desk.create("t1", tier="sticky", preferred_agent="ann")
    # Then it waits for ann (bob is filtered as not preferred)
    assert (d.kind, d.filtered) == ("queued", {"not_preferred": 1, "capacity": 1})
    # When the sticky window ends / Then bob takes it
    [d] = desk.later(60)
    assert (d.kind, d.agent) == ("assigned", "bob")


def test_sticky_ticket_goes_to_the_preferred_agent_when_she_frees_up() -> None:
    # Given a ticket waiting for busy ann
    desk = Desk()
    desk.login("ann")
    desk.create("busy")
    desk.login("bob")
    desk.create("t1", tier="sticky", preferred_agent="ann")
    # When ann resolves her ticket / Then she pulls the sticky one
    out = desk.send("ticket.resolved", "busy")
    assert kinds(out[1:]) == [("assigned", "t1", "ann")]


def test_repeated_ticks_do_not_repeat_an_escalation() -> None:
    # Given a waiting regional ticket past its first step
    desk = Desk()
    desk.create("t1", tier="regional", region="eu")
    assert len(desk.later(30)) == 1
    # When ticks repeat without time passing / Then nothing more happens
    assert desk.service.tick(desk.now) == []
    assert desk.later(0) == []


# ---- lifecycle, reopen and idempotency ---------------------------------------------------------


def test_resolve_frees_the_agent_and_closes_the_ticket() -> None:
    # Given an assigned ticket
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    # When it is resolved
    [d] = desk.send("ticket.resolved", "t1", agent="ann")
    # Then it is released with the reason, closed, and ann's load is 0
    assert (d.kind, d.agent, d.reason) == ("released", "ann", "resolved")
    assert desk.state("t1")[0] == CLOSED and desk.load("ann") == 0


@pytest.mark.parametrize(
    ("event", "reason"),
    [("ticket.closed", "closed"), ("ticket.cancelled", "cancelled")],
)
def test_closing_or_cancelling_a_waiting_ticket_removes_it_from_the_queue(
    event: str, reason: str
) -> None:
    # Given a waiting ticket / When it is closed or cancelled
    desk = Desk()
    desk.create("t1")
    [d] = desk.send(event, "t1")
    # Then it leaves the waiting queue
    assert (d.kind, d.agent, d.reason) == ("released", None, reason)
    assert desk.waiting_ids() == [] and desk.state("t1")[0] == CLOSED


def test_reopened_ticket_is_routed_again_with_a_fresh_clock() -> None:
    # Given a resolved regional ticket
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    desk.create("t1", tier="regional", region="eu")
    desk.send("ticket.resolved", "t1")
    desk.later(500)
    # When it is reopened
    [d] = desk.send("ticket.reopened", "t1")
    # Then it is assigned again, its steps measured from the reopening
    assert (d.kind, d.agent, d.step, d.ticket_ts) == ("assigned", "ann", "initial", desk.now)
    assert desk.state("t1") == (ASSIGNED, "ann")


@pytest.mark.parametrize("ticket", ["t1", "unknown"])
def test_reopen_of_an_open_or_unknown_ticket_is_ignored(ticket: str) -> None:
    # Given an open ticket / When it (or an unknown one) is reopened / Then nothing happens
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    assert desk.send("ticket.reopened", ticket) == []
    assert desk.load("ann") == 1


def test_reopened_ticket_prefers_its_previous_agent_in_a_sticky_queue() -> None:
    # Given a sticky ticket resolved by bob, and round robin pointing at the next agent
    desk = Desk()
    for a in ("ann", "bob", "cat"):
        desk.login(a, capacity={"chat": 5})
    desk.create("t0", tier="sticky")  # ann
    [d] = desk.create("t1", tier="sticky")
    assert d.agent == "bob"
    desk.send("ticket.resolved", "t1")
    # When it is reopened
    [d] = desk.send("ticket.reopened", "t1")
    # Then it goes back to bob
    assert d.agent == "bob"


def test_decisions_about_a_ticket_carry_increasing_versions() -> None:
    # Given a ticket offered, rejected, offered again and accepted
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    out = desk.create("t1", tier="offer")
    out += desk.send("ticket.rejected", "t1", agent="ann")
    out += desk.send("ticket.accepted", "t1", agent="bob")
    # When its decisions are listed with their versions
    versions = [(d.kind, d.seq) for d in out]
    # Then each is the ticket's next version, and a redelivery repeats the current one
    assert versions == [("offered", 1), ("released", 2), ("offered", 3), ("assigned", 4)]
    [dup] = desk.create("t1", tier="offer")
    assert (dup.duplicate, dup.seq) == (True, 4)


def test_reopened_ticket_versions_continue_after_the_close() -> None:
    # Given a ticket assigned (version 1) and resolved (version 2)
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    [closed] = desk.send("ticket.resolved", "t1")
    assert closed.seq == 2
    # When it is reopened
    [again] = desk.send("ticket.reopened", "t1")
    # Then its new decision is a newer version than the close
    assert again.seq > closed.seq


@pytest.mark.parametrize(
    ("setup", "kind"),
    [("assigned", "assigned"), ("waiting", "queued"), ("offered", "offered")],
)
def test_duplicate_ticket_created_is_a_duplicate_decision_without_extra_load(
    setup: str, kind: str
) -> None:
    # Given a ticket in some state
    desk = Desk()
    if setup != "waiting":
        desk.login("ann", capacity={"chat": 3})
    tier = "offer" if setup == "offered" else "standard"
    [first] = desk.create("t1", tier=tier)
    # When the same ticket.created is delivered again
    [dup] = desk.create("t1", tier=tier)
    # Then the decision repeats its state, marked duplicate, and nothing changes
    assert (dup.kind, dup.agent, dup.duplicate) == (kind, first.agent, True)
    if setup != "waiting":
        assert desk.load("ann") == 1
    assert desk.waiting_ids() == (["t1"] if setup == "waiting" else [])


def test_duplicate_in_one_batch_is_assigned_once() -> None:
    # Given one agent with room for two
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    ev = {
        "v": 1,
        "type": "ticket.created",
        "id": "t1",
        "tenant": TENANT,
        "ts": T0,
        "channel": "chat",
        "priority": 3,
        "tier": "standard",
    }
    # When the same event arrives twice in one batch
    out = desk.service.handle([ev, dict(ev)], desk.now)
    # Then the second is a duplicate and ann holds it once
    assert [(d.kind, d.duplicate) for d in out] == [("assigned", False), ("assigned", True)]
    assert desk.load("ann") == 1


def test_duplicate_created_after_close_does_not_reopen() -> None:
    # Given a resolved ticket / When its ticket.created is redelivered
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.send("ticket.resolved", "t1")
    [dup] = desk.create("t1")
    # Then it is a duplicate of the closed state, and ann stays free
    assert (dup.kind, dup.duplicate) == ("released", True)
    assert desk.state("t1")[0] == CLOSED and desk.load("ann") == 0


def test_redelivered_ticket_under_a_changed_policy_does_not_contradict_its_assignment() -> None:
    # Given a ticket assigned under the current policy
    desk = Desk()
    desk.login("ann")
    [first] = desk.create("t1", tier="vip")
    assert (first.kind, first.agent) == ("assigned", "ann")
    # When the policy is reloaded without the vip queue and the event is redelivered
    without_vip = {**POLICY, "queues": [q for q in POLICY["queues"] if q["name"] != "vip"]}
    desk.service = DispatchService(desk.store, parse_policy(without_vip))
    out = desk.create("t1", tier="vip")
    # Then no decision says the assigned ticket is unassignable
    assert all(d.kind != "unassignable" for d in out), out
    assert desk.state("t1") == (ASSIGNED, "ann")


def test_duplicate_resolve_is_harmless() -> None:
    # Given ann resolved t1 and then pulled t2
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    desk.send("ticket.resolved", "t1")
    assert desk.state("t2") == (ASSIGNED, "ann")
    # When the resolve of t1 is delivered again
    out = desk.send("ticket.resolved", "t1")
    # Then nothing changes: no decision, t2 still hers, load 1
    assert out == []
    assert desk.state("t2") == (ASSIGNED, "ann") and desk.load("ann") == 1


@pytest.mark.parametrize(
    "event",
    [
        "ticket.resolved",
        "ticket.accepted",
        "ticket.rejected",
        "ticket.reopened",
        "ticket.first_response",
        "ticket.rated",
    ],
)
def test_lifecycle_event_for_an_unknown_ticket_is_ignored(event: str) -> None:
    # Given nothing about the ticket / When a lifecycle event arrives / Then no decision
    desk = Desk()
    desk.login("ann")
    assert desk.send(event, "ghost", agent="ann") == []
    assert desk.load("ann") == 0
