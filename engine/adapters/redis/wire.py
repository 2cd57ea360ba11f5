"""What crosses the wire to the scripts: argument packing and reply decoding.

Python packs requests, agent fields and ticket events with msgpack; scripts decode them with
``cmsgpack`` (floats stay IEEE doubles, epoch-ms integers stay exact) and reply with
``cmsgpack``. Lua cannot tell an empty map from an empty list, so empty maps may come back as
``[]``; ``None`` comes back as ``False``.

Decision rows are decoded with :data:`layout.DECISION_FIELDS`, the table the scripts' row
positions are generated from; a row of any other length is an error, not a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import msgpack

from engine import codec, escaping
from engine.adapters.redis.layout import DECISION_FIELDS, LATER_FIELDS, REPLIES, TICKET_HASH
from engine.core.model import Agent, Cooloff, Decision, Request
from engine.errors import UnknownAgent, UnknownTicket
from engine.ports import AgentView, TicketRecord, Timer, WaitingEntry

# The ticket hash fields ticket_record() decodes, in its order (HMGET).
TICKET_RECORD_FIELDS = tuple(
    TICKET_HASH[name]
    for name in ("state", "agent", "request", "cooloff", "event", "last_agent", "latest")
)


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def pack_request(r: Request) -> bytes:
    """A request as the Lua library reads it (``regions``/``teams``/``preferred`` absent when
    ``None``)."""
    d: dict[str, Any] = {
        "id": r.ticket_id,
        "queue": r.queue,
        "strategy": r.strategy,
        "channel": r.channel,
        "priority": r.priority,
        "ts": r.ticket_ts,
        "score": float(r.score),
        "skills": dict(r.skills),
        "cooloff": [list(c) for c in r.cooloff],
        "reoffer_ms": r.reoffer_ms,
        "fair_max": r.fair_max,
        "fair_window_ms": r.fair_window_ms,
        "stop_ms": r.shift_stop_ms,
        "wrap_up_ms": r.wrap_up_ms,
        "step": r.step,
        "offer_ms": r.offer_timeout_ms,
        "max_misses": r.offer_max_misses,
        "wake_ms": r.wake_ms,
        "policy": r.policy,
    }
    if r.regions is not None:
        d["regions"] = list(r.regions)
    if r.preferred_agent is not None:
        d["preferred"] = r.preferred_agent
    if r.teams is not None:
        d["teams"] = list(r.teams)
    if r.pull:  # grab mode (absent: push, as every request stored before it)
        d["pull"] = True
    if r.claim_limit:
        d["claim_limit"] = r.claim_limit
    return pack(d)


def pack_new_ticket(r: Request, ticket: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """(request, cool-off list, ticket event) of a new ticket, as assign.lua stores them. A
    ticket event decoded from a record (:class:`engine.codec.Event`) is stored as the
    record's own bytes, not packed again."""
    raw = codec.raw_bytes(ticket)
    cooloff = pack([list(c) for c in r.cooloff])
    return pack_request(r), cooloff, raw if raw is not None else pack(dict(ticket))


def pack_reroute(r: Request, ticket: Mapping[str, Any] | None) -> tuple[bytes, bytes]:
    """(request, new ticket event or ``b""`` to keep the stored one), as assign.lua reroutes."""
    return pack_request(r), pack(dict(ticket)) if ticket is not None else b""


def pack_agent_fields(fields: Mapping[str, Any]) -> bytes:
    """The given agent fields, converted exactly as ``Agent.from_mapping`` converts them."""
    out: dict[str, Any] = {}
    if "status" in fields:
        out["status"] = str(fields["status"])
    if "skills" in fields:
        out["skills"] = {str(k): int(v) for k, v in (fields["skills"] or {}).items()}
    if "regions" in fields:
        out["regions"] = [str(r) for r in (fields["regions"] or ())]
    if "team" in fields:
        out["team"] = str(fields["team"] or "")
    if "capacity" in fields:
        out["capacity"] = {str(k): int(v) for k, v in (fields["capacity"] or {}).items()}
    if "performance" in fields:
        out["performance"] = float(fields["performance"])
    if "schedule" in fields:
        out["schedule"] = str(fields["schedule"] or "")
    for name in ("shift_start_ms", "shift_end_ms"):
        if name in fields:
            out[name] = int(fields[name] or 0)
    return pack(out)


def _none(value: Any) -> Any:
    return None if value is False else value


def _map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def decisions(raw: bytes, tenant: str) -> list[Decision]:
    """Decode a script's list of decision rows; a whole reply naming an unknown entity
    (``layout.REPLIES``) raises the matching ``engine.errors`` exception."""
    rows = unpack(raw)
    if isinstance(rows, str):
        raise_reply(rows, tenant)
    return [decision(row, tenant) for row in rows]


def raise_reply(reply: str, tenant: str) -> NoReturn:
    if reply == REPLIES["unknown_ticket"]:
        raise UnknownTicket(f"ticket not known in tenant {tenant!r}")
    if reply == REPLIES["unknown_agent"]:
        raise UnknownAgent(f"agent never logged in to tenant {tenant!r}")
    raise ValueError(f"unexpected script reply {reply!r}")


def decision(row: list[Any], tenant: str) -> Decision:
    """Decode a decision row (``lua/lib/20_decisions.lua`` ``decision()``; ``DECISION_FIELDS``).

    cmsgpack sends integral Lua numbers as integers and Lua booleans as booleans, so only
    ``False`` (Lua's stand-in for nil), the flat ``filtered`` list and ``explain`` (a list,
    its scores floats) need converting.
    """
    missing = DECISION_FIELDS[len(row) :]
    if len(row) > len(DECISION_FIELDS) or any(m not in LATER_FIELDS for m in missing):
        raise ValueError(
            f"decision row of {len(row)} fields, {len(DECISION_FIELDS)} expected "
            "(layout.DECISION_FIELDS)"
        )
    f = dict(zip(DECISION_FIELDS, row, strict=False))
    f.update({m: LATER_FIELDS[m] for m in missing})  # a row stored by an earlier version
    flat = f["filtered"]
    f["filtered"] = {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
    f["agent"] = _none(f["agent"])
    f["supervisor"] = _none(f["supervisor"])
    f["explain"] = _explain(f["explain"])
    return Decision(tenant=tenant, **f)


def _explain(flat: Any) -> tuple[Any, ...]:
    """The row's explain list [score, runner-up, its score] as Decision.explain: scores as
    floats (cmsgpack sends an integral Lua number as an integer)."""
    if not flat:
        return ()
    if len(flat) >= 3:
        return (float(flat[0]), str(flat[1]), float(flat[2]))
    return (float(flat[0]),)


def agent_views(raw: bytes) -> list[AgentView]:
    """Decode read.lua ``agents``."""
    out = []
    for row in unpack(raw):
        aid, status, skills, regions, team, cap, perf, last, misses, flat = row[:10]
        schedule, shift_start, shift_end, wrap_until = row[10:14]
        agent = Agent(
            id=aid,
            status=status,
            skills=_map(skills),
            regions=tuple(regions),
            team=team,
            capacity=_map(cap),
            last_assigned_ms=int(last or 0),
            performance=float(perf),
            schedule=schedule,
            shift_start_ms=int(shift_start),
            shift_end_ms=int(shift_end),
            wrap_until_ms=int(wrap_until),
        )
        open_ = {flat[i]: tuple(sorted(flat[i + 1])) for i in range(0, len(flat), 2)}
        out.append(AgentView(agent, {ch: ids for ch, ids in open_.items() if ids}, int(misses)))
    return sorted(out, key=lambda v: v.agent.id)


def waiting_entries(raw: bytes) -> list[WaitingEntry]:
    """Decode read.lua ``waiting``, in service order."""
    out = [
        WaitingEntry(tid, queue, float(score), int(priority), int(ts))
        for tid, queue, score, priority, ts in unpack(raw)
    ]
    return sorted(out, key=lambda e: (e.score, e.ticket_id))


def ticket_record(tenant: str, ticket_id: str, fields: list[bytes | None]) -> TicketRecord | None:
    """Decode ``HMGET t:<id>`` of :data:`TICKET_RECORD_FIELDS`."""
    state, agent, rq, ex, ev, last, latest = fields
    if state is None or rq is None:
        return None
    req = unpack(rq)
    return TicketRecord(
        ticket_id=ticket_id,
        tenant=tenant,
        state=state.decode(),
        queue=req["queue"],
        channel=req["channel"],
        agent=agent.decode() if agent is not None else None,
        ticket=unpack(ev) if ev is not None else {},
        cooloff=cooloff(unpack(ex)) if ex is not None else (),
        step=req["step"],
        priority=int(req["priority"]),
        last_agent=last.decode() if last is not None else None,
        latest=decision(unpack(latest), tenant) if latest is not None else None,
    )


def cooloff(raw: Any) -> Cooloff:
    """A stored cool-off list; plain ids (stored before cool-offs existed) are dropped."""
    return tuple((str(c[0]), int(c[1])) for c in raw if isinstance(c, list) and len(c) == 2)


def timers(raw: bytes, tenant: str) -> list[Timer]:
    """Decode timers.lua ``claim``: members ``kind|ticket|agent`` (parts escaped:
    ``escaping.timer_member``) with their due time and the claim's lease; the token is
    ``member@lease`` (as MemoryAgentStore's)."""
    flat = unpack(raw)
    out = []
    for i in range(0, len(flat), 3):
        member, due, lease = flat[i], flat[i + 1], flat[i + 2]
        kind, tid, agent = escaping.parse_timer_member(member)
        out.append(Timer(tenant, kind, tid, int(float(due)), f"{member}@{lease}", agent))
    return out
