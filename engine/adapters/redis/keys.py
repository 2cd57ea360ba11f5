"""Every Redis key shape of the dispatch store, in one place.

All keys of one routing pool (tenant) start with ``{prefix}:{{{tenant}}}:`` -- the tenant is the
hash tag, so every key a script touches lives in one slot and the store works on Redis Cluster.
Scripts receive that *pool base* and build the per-agent/per-ticket/per-queue keys from
:data:`POOL_KEYS` (a Lua table generated from it by ``layout.lua_prelude``), so the shapes below
are the only definition. Each call declares one key of the pool (``agents``) for routing; the
keys it builds are in the same slot, which Redis Cluster allows without
``allow-cross-slot-keys``. The tenant must not be empty: ``{}`` is not a hash tag.

Data layout of one pool (``B`` = pool base; the hash field names are ``layout.TICKET_HASH`` and
``layout.AGENT_HASH``, the decision row is ``layout.DECISION_FIELDS``)::

  B agents                zset    every agent id of the pool, score 0: ZRANK is the id's rank in
                                  byte order (= Python str order), which scripts use to compare ids
  B agent:<agent>         hash    st (status), d (cmsgpack {sk skills, rg regions, tm team,
                                  cap capacity, pf performance, sc schedule, ss/se shift start/
                                  end ms, wu wrap-up end ms}), last (last assignment, ms),
                                  miss (missed offers in a row)
  B avail                 set     agents whose status is ``available``  (candidate index)
  B skill:<skill>         set     agents holding <skill> at any level    (candidate index)
  B chans:<agent>         set     channels on which the agent has open tickets
  B open:<channel>:<agent> set    the agent's open ticket ids on <channel>; load = SCARD
  B t:<ticket>            hash    la (last agent, kept after release), st (waiting|offered|
                                  assigned|closed), ag (agent, while it has one),
                                  rq (Request, msgpack by Python: wire.pack_request),
                                  ex (cool-offs [[agent, until ms], ...] sorted by agent,
                                  msgpack; replaced on decline; a plain id, stored before
                                  cool-offs, counts as expired),
                                  ev (original ticket.created event, msgpack, opaque to Lua),
                                  seq (decisions so far), ld (the latest decision row, msgpack);
                                  closed tickets expire after CLOSED_TICKET_TTL_S
  B wq:<queue>            zset    waiting ticket ids, score = Request.score (ties: member order)
  B queues                set     queues that have waiting tickets
  B paused                set     paused queues
  B rr                    hash    queue -> agent last assigned there (round robin)
  B timers                zset    "esc|<ticket>|" / "offer|<ticket>|<agent>" / "hours||<agent>"
                                  -> due ms
  B tlease                hash    claimed timer member -> lease of its claim ("<lease end>/<n>");
                                  dropped when the timer is re-scheduled or removed
  B tseq                  string  claims so far (n above: each claim's lease is unique)
  B outbox                zset    ticket ids whose latest decision (t:<ticket> ld, seq) is not
                                  acknowledged as published -> when it may be handed out again
  B qver                  hash    queue -> engine.ports.Version text of its last pause/resume
  B fair:<queue>:<agent>  zset    tickets of <queue> given to the agent -> when (ms), for queues
                                  with a fairness limit: entries older than the window are
                                  trimmed on each write; expires a window after the last one

Outside any pool: ``{prefix}:tenants`` (set of tenant names, for :meth:`tenants`; written
only for onboarding: a ticket, an agent login) and the due index, two keys under the hash tag
``{prefix:due}`` (one slot): ``{prefix:due}:pools`` (zset: tenant -> the earliest timer or
outbox entry of its pool, ms) and ``{prefix:due}:ver`` (hash: tenant -> changes indexed, so a
replica re-indexing a pool it fired notices a change made meanwhile; ``lua/due.lua``).

Every ``<part>`` above, and the tenant in the hash tag, is escaped
(``engine.escaping``: bytes outside ``[A-Za-z0-9._@+-]`` become ``%XX``), in Python
here and in the scripts' ``key()``: no part can contain ``:``, ``|`` or a brace, so no two
distinct (tenant, name, parts) give the same key and a tenant cannot reach another's slot.
Members (agent ids in ``agents``, ticket ids in ``wq:`` and ``outbox``) are stored as they
are; timer members escape their parts (``escaping.timer_member``).
"""

from __future__ import annotations

from engine import escaping

DEFAULT_PREFIX = "dispatch"
# Closed tickets stay so that a ticket.created redelivered after resolution is recognised as a
# duplicate (it is answered with a ``released`` duplicate decision). After a week the record
# expires: a redelivery older than that would be routed again.
CLOSED_TICKET_TTL_S = 7 * 24 * 3600

# Pool key suffixes: name -> template (``%s`` placeholders, in argument order).
POOL_KEYS: dict[str, str] = {
    "agents": "agents",
    "agent": "agent:%s",  # agent id
    "avail": "avail",
    "skill": "skill:%s",  # skill name
    "chans": "chans:%s",  # agent id
    "open": "open:%s:%s",  # channel, agent id
    "ticket": "t:%s",  # ticket id
    "wq": "wq:%s",  # queue name
    "queues": "queues",
    "paused": "paused",
    "rr": "rr",
    "timers": "timers",
    "tlease": "tlease",
    "tseq": "tseq",
    "outbox": "outbox",
    "qver": "qver",
    "fair": "fair:%s:%s",  # queue, agent id
}


def pool_base(prefix: str, tenant: str) -> str:
    """``prefix:{tenant}:`` -- every key of the pool starts with it (one hash tag); the
    tenant escaped (``engine.escaping``), so it cannot close the tag early."""
    return f"{prefix}:{{{escaping.tag(tenant)}}}:"


def pool_key(prefix: str, tenant: str, name: str, *parts: str) -> str:
    """The full name of one pool key, e.g. ``pool_key("dispatch", "acme", "agent", "a1")``;
    every part escaped as the scripts' ``key()`` escapes it."""
    template = POOL_KEYS[name]
    escaped = tuple(escaping.escape(p) for p in parts)
    return pool_base(prefix, tenant) + (template % escaped if parts else template)


def tenants_key(prefix: str) -> str:
    """The set of tenant names (not in any pool's slot; written outside scripts)."""
    return f"{prefix}:tenants"


def state_key(prefix: str) -> str:
    """``{prefix}:state``: present while Redis holds the dispatch state. Set by the first
    dispatcher of a consumer group without committed offsets and by ``dispatch reconcile``;
    missing while the group has committed offsets means Redis lost its data (flushed,
    restarted empty): dispatchers pause until ``dispatch reconcile --repair``."""
    return f"{prefix}:state"


def due_keys(prefix: str) -> tuple[str, str]:
    """The due index: (pools zset, change-count hash), one hash tag, so one slot."""
    tag = f"{{{prefix}:due}}"
    return f"{tag}:pools", f"{tag}:ver"
