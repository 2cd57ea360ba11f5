"""SLA policies in the policy document: ``calendars:``, ``sla:`` and ``sla_rules:``.

``sla:`` names policies (targets in seconds of business time, ``warn_at`` a fraction of the
target, an optional ``calendar`` from the top-level ``calendars:`` section and
``pause_on_customer``); ``sla_rules:`` chooses one by ticket priority x tier, first match wins,
falling back to the queue's ``sla``. Every problem is reported with its document path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core import bounds
from engine.core.calendar import ALWAYS, BusinessCalendar, parse_calendars
from engine.core.model import MAX_PRIORITY, MIN_PRIORITY
from engine.core.sla import ESCALATE_ON, TARGETS, Escalation, SlaTargets
from engine.core.validate import (
    Issues,
    at_most,
    check_keys,
    check_name,
    check_recipient,
    duration,
    num,
    pos_int,
)

_SLA_KEYS = (
    "first_response_s",
    "next_response_s",
    "resolution_s",
    "warn_at",
    "calendar",
    "pause_on_customer",
    "escalate",
    "description",
)
_ESCALATE_KEYS = ("when", "target", "raise_priority", "move_queue", "notify", "description")


@dataclass(frozen=True, slots=True)
class SlaSection:
    """The validated ``calendars:`` and ``sla:`` sections of a policy."""

    policies: Mapping[str, SlaTargets]
    calendars: Mapping[str, BusinessCalendar]


@dataclass(frozen=True, slots=True)
class SlaRule:
    """Chooses ``policy`` for tickets whose priority and tier match (None matches any)."""

    policy: str
    priorities: frozenset[int] | None = None
    tiers: frozenset[str] | None = None

    def matches(self, priority: int, tier: str) -> bool:
        return (self.priorities is None or priority in self.priorities) and (
            self.tiers is None or tier in self.tiers
        )


def choose_sla(
    rules: Iterable[SlaRule], priority: int, tier: str, fallback: str | None
) -> str | None:
    """The policy of the first rule matching ``priority`` x ``tier``, else ``fallback`` (the
    queue's ``sla``)."""
    return next((r.policy for r in rules if r.matches(priority, tier)), fallback)


def parse_sla_section(iss: Issues, doc_sla: Any, doc_calendars: Any) -> SlaSection:
    """Validate ``sla: {name: {targets, warn_at, calendar, pause_on_customer}}`` and the
    ``calendars:`` they name; every problem goes to ``iss`` with its path."""
    calendars = parse_calendars(iss, doc_calendars)
    declared = set(doc_calendars) if isinstance(doc_calendars, Mapping) else set()
    out: dict[str, SlaTargets] = {}
    if not isinstance(doc_sla, Mapping):
        iss.add("sla", "must be a mapping of name -> targets")
        return SlaSection(out, calendars)
    for name, spec in doc_sla.items():
        path = f"sla.{name}"
        check_name(iss, path, name, "an SLA policy name")
        if not isinstance(spec, Mapping):
            iss.add(path, "must be a mapping of targets")
            continue
        check_keys(iss, path, spec, _SLA_KEYS)
        targets = {}
        for k in ("first_response_s", "next_response_s", "resolution_s"):
            targets[k] = duration(iss, f"{path}.{k}", spec.get(k), exclusive=True)
        if all(v is None for v in targets.values()):
            iss.add(path, "needs at least one of first_response_s, next_response_s, resolution_s")
        warn = num(iss, f"{path}.warn_at", spec.get("warn_at", 0.8), minimum=0, maximum=1)
        cal_name = spec.get("calendar")
        if cal_name is not None and (not isinstance(cal_name, str) or cal_name not in declared):
            known = ", ".join(sorted(map(str, declared))) or "none declared"
            iss.add(f"{path}.calendar", f"unknown calendar {cal_name!r} (calendars: {known})")
        pause = spec.get("pause_on_customer", False)
        if not isinstance(pause, bool):
            iss.add(f"{path}.pause_on_customer", f"must be true or false, got {pause!r}")
        cal = calendars.get(cal_name, ALWAYS) if isinstance(cal_name, str) else ALWAYS
        escalations = parse_escalations(iss, f"{path}.escalate", spec.get("escalate", []))
        out[str(name)] = SlaTargets(
            str(name),
            **targets,
            warn_at=0.8 if warn is None else warn,
            calendar=cal,
            pause_on_customer=pause is True,
            calendar_name=cal_name if isinstance(cal_name, str) else None,
            escalations=escalations,
        )
    return SlaSection(out, calendars)


def parse_escalations(iss: Issues, path: str, raw: Any) -> tuple[Escalation, ...]:
    """Validate ``[{when: breached, target: first_response, raise_priority: 1,
    move_queue: escalations, notify: [team:leads]}, ...]``; each entry needs at least one
    action. Queue names are checked against the queues by :func:`check_escalation_queues`.
    (The key is ``when``, not ``on``: YAML 1.1 reads a bare ``on`` as the boolean true.)"""
    if not isinstance(raw, list):
        iss.add(path, "must be a list of {when, target, raise_priority, move_queue, notify}")
        return ()
    if not at_most(iss, path, raw, bounds.LIST_MAX, "escalations"):
        return ()
    out: list[Escalation] = []
    for i, spec in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(spec, Mapping):
            iss.add(p, "must be a mapping {when, target, raise_priority, move_queue, notify}")
            continue
        check_keys(iss, p, spec, _ESCALATE_KEYS)
        on = spec.get("when")
        if on not in ESCALATE_ON:
            iss.add(f"{p}.when", f"must be one of {', '.join(ESCALATE_ON)}, got {on!r}")
        targets = _any_of(iss, f"{p}.target", spec.get("target"), _target)
        prio = spec.get("raise_priority")
        if prio is not None:
            prio = _priority(iss, f"{p}.raise_priority", prio)
        queue = spec.get("move_queue")
        if queue is not None:
            queue = check_name(iss, f"{p}.move_queue", queue, "a queue name")
        notify = _recipients(iss, f"{p}.notify", spec.get("notify", []))
        if not any(k in spec for k in ("raise_priority", "move_queue", "notify")):
            iss.add(p, "needs at least one action: raise_priority, move_queue or notify")
        out.append(Escalation(str(on), targets, prio, queue, tuple(notify)))
    return tuple(out)


def _recipients(iss: Issues, path: str, raw: Any) -> list[str]:
    """``notify``: one recipient or a list of at most NOTIFY_MAX (they become a command.notify)."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        iss.add(path, f"must be a list of recipients, got {raw!r}"[:300])
        return []
    if not at_most(iss, path, raw, bounds.NOTIFY_MAX, "recipients"):
        return []
    found = [check_recipient(iss, f"{path}[{i}]", r) for i, r in enumerate(raw)]
    return [r for r in found if r is not None]


def check_escalation_queues(
    iss: Issues, policies: Mapping[str, SlaTargets], queues: Iterable[str]
) -> None:
    """Every ``move_queue`` of an escalation must name a queue of the policy."""
    known = set(queues)
    for name, targets in policies.items():
        for i, esc in enumerate(targets.escalations):
            if esc.move_queue is not None and esc.move_queue not in known:
                iss.add(
                    f"sla.{name}.escalate[{i}].move_queue",
                    f"unknown queue {esc.move_queue!r} (queues: {', '.join(sorted(known))})",
                )


def _target(iss: Issues, path: str, value: Any) -> str | None:
    if value in TARGETS:
        return str(value)
    iss.add(path, f"must be one of {', '.join(TARGETS)}, got {value!r}")
    return None


def parse_sla_rules(
    iss: Issues, raw: Any, policies: Mapping[str, SlaTargets], path: str = "sla_rules"
) -> tuple[SlaRule, ...]:
    """Validate ``[{match: {priority: [1, 2], tier: vip}, policy: vip}, ...]`` (first match
    wins; an empty ``match`` matches every ticket)."""
    if not isinstance(raw, list):
        iss.add(path, "must be a list of {match, policy}")
        return ()
    if not at_most(iss, path, raw, bounds.LIST_MAX, "rules"):
        return ()
    rules: list[SlaRule] = []
    for i, spec in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(spec, Mapping):
            iss.add(p, "must be a mapping {match, policy}")
            continue
        check_keys(iss, p, spec, ("match", "policy", "description"))
        name = spec.get("policy")
        if not isinstance(name, str) or name not in policies:
            msg = "required, an SLA policy name" if name is None else f"unknown sla policy {name!r}"
            iss.add(f"{p}.policy", msg)
        match = spec.get("match", {})
        if not isinstance(match, Mapping):
            iss.add(f"{p}.match", "must be a mapping with priority and/or tier")
            continue
        check_keys(iss, f"{p}.match", match, ("priority", "tier"))
        prios = _any_of(iss, f"{p}.match.priority", match.get("priority"), _priority)
        tiers = _any_of(iss, f"{p}.match.tier", match.get("tier"), _tier)
        rules.append(SlaRule(str(name), prios, tiers))
    return tuple(rules)


def _priority(iss: Issues, path: str, value: Any) -> int | None:
    return pos_int(iss, path, value, MIN_PRIORITY, MAX_PRIORITY)


def _tier(iss: Issues, path: str, value: Any) -> str | None:
    return check_name(iss, path, value, "a tier name")


def _any_of(iss: Issues, path: str, raw: Any, item: Any) -> frozenset[Any] | None:
    """A value or a list of values, each checked by ``item``; None (absent) matches any."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        one = item(iss, path, raw)
        return frozenset() if one is None else frozenset({one})
    if not raw:
        iss.add(path, "an empty list matches nothing")
    if not at_most(iss, path, raw, bounds.LIST_MAX, "values"):
        return frozenset()
    values = [item(iss, f"{path}[{j}]", v) for j, v in enumerate(raw)]
    return frozenset(v for v in values if v is not None)
