"""Simulator scenarios: validation with paths, determinism, shifts, abandonment, escalation,
the fast store's equivalence with the reference store, and the ``simulate`` command."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace
from typing import Any

import pytest

from engine.adapters.memory.store import MemoryAgentStore
from engine.cli.simulate import main
from engine.core.model import STRATEGIES, Decision
from engine.exitcodes import RET_INVALID, RET_OK
from engine.sim import ScenarioError, load_scenario, parse_scenario, simulate
from engine.sim.presets import mmn_doc
from engine.sim.scenario import Scenario

pytestmark = pytest.mark.unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCENARIOS = os.path.join(ROOT, "deploy", "scenarios")
WALL_CLOCK_KEYS = ("wall_s", "cpu_s", "tickets_per_wall_min")


def _doc(**changes: Any) -> dict[str, Any]:
    doc = mmn_doc(3, 2.0, aht_s=60.0, duration_s=3600.0, warmup_s=60.0, seed=3)
    doc.update(changes)
    return doc


def _errors(doc: Any) -> dict[str, str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    return dict(info.value.errors)


def _multiskill(duration_s: float = 14_400.0) -> Scenario:
    sc = load_scenario(os.path.join(SCENARIOS, "multiskill.yaml"))
    return replace(sc, duration_s=duration_s, warmup_s=600.0)


def _without_wall_clock(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS}


# ---- validation --------------------------------------------------------------------------
def _set(path: list[Any], value: Any) -> dict[str, Any]:
    doc = _doc()
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        (_set(["arrivals", 0, "rate_per_s"], 0), "arrivals[0].rate_per_s", "must be > 0"),
        (_set(["arrivals", 0, "rate_per_s"], "fast"), "arrivals[0].rate_per_s", "a number"),
        (_set(["duration_s"], None), "duration_s", "required"),
        (_set(["warmup_s"], 7200), "warmup_s", "must be < duration_s"),
        (_set(["handle_time_s"], {"dist": "gamma"}), "handle_time_s.dist", "unknown distribution"),
        (
            _set(["handle_time_s"], {"dist": "lognormal", "mean": 60}),
            "handle_time_s.sigma",
            "required",
        ),
        (_set(["abandon_after_s"], {"dist": "exponential"}), "abandon_after_s.mean", "required"),
        (_set(["agents", 0, "capacity"], {}), "agents[0].capacity", "required"),
        (_set(["agents", 0, "count"], 0), "agents[0].count", "integer 1..100000"),
        (
            _set(["agents", 0, "shift"], {"start_s": 10, "end_s": 5}),
            "agents[0].shift.end_s",
            "must be > start_s",
        ),
        (_set(["arrivals", 0, "ticket", "priority"], 9), "arrivals[0].ticket.priority", "1..5"),
        (
            _set(["policy", "queues", 0, "strategy"], "fastest"),
            "policy.queues[0].strategy",
            "fastest",
        ),
        (_set(["policy"], "no-such-policy.yaml"), "policy", "cannot read policy file"),
        (_set(["colour"], "blue"), "colour", "unknown key"),
        (_set(["arrivals"], []), "arrivals", "non-empty list"),
    ],
)
def test_invalid_scenarios_report_the_path_of_the_error(
    doc: dict[str, Any], path: str, message: str
) -> None:
    errors = _errors(doc)
    assert path in errors, errors
    assert message in errors[path]


def test_a_ticket_no_queue_matches_is_an_error() -> None:
    doc = _doc()
    doc["policy"]["queues"][0]["match"] = {"channel": "email"}
    assert "no queue of the policy matches" in _errors(doc)["arrivals[0].ticket"]


def test_every_error_is_reported_at_once() -> None:
    doc = _set(["arrivals", 0, "rate_per_s"], -1)
    doc["agents"][0]["count"] = "ten"
    doc["seed"] = 1.5
    assert {"arrivals[0].rate_per_s", "agents[0].count", "seed"} <= set(_errors(doc))


def test_shipped_scenarios_load_and_a_policy_path_is_relative_to_the_file() -> None:
    ec = load_scenario(os.path.join(SCENARIOS, "erlang_c_10.yaml"))
    ms = load_scenario(os.path.join(SCENARIOS, "multiskill.yaml"))
    assert sum(g.count for g in ec.agents) == 10
    assert [q.name for q in ms.policy.queues][-1] == "general"
    assert ms.with_strategy("round_robin").policy.queues[0].strategy == "round_robin"


# ---- behaviour ----------------------------------------------------------------------------
def test_same_seed_gives_the_same_result_and_another_seed_does_not() -> None:
    sc = _multiskill(7200.0)
    first, again = simulate(sc), simulate(sc)
    other = simulate(sc.with_seed(sc.seed + 1))
    assert _without_wall_clock(first) == _without_wall_clock(again)
    assert first["tickets"] != other["tickets"] or first["asa_s"] != other["asa_s"]


def test_every_counted_ticket_ends_answered_abandoned_or_unanswered() -> None:
    # Overloaded (a = 4 on 3 agents) with impatient callers: many abandon, none is lost.
    doc = mmn_doc(3, 4.0, aht_s=60.0, duration_s=20_000.0, warmup_s=600.0, patience_s=30.0)
    r = simulate(parse_scenario(doc))
    assert r["abandoned"] > 0.1 * r["tickets"]
    assert r["assigned"] + r["abandoned"] + r["unanswered"] == r["tickets"]
    assert r["unanswered"] == 0
    assert 0.0 < r["service_level"] < 1.0


def test_agents_take_work_only_during_their_shift_and_finish_open_work() -> None:
    doc = _doc(duration_s=40_000.0, warmup_s=0.0)
    doc["agents"] = [
        {"name": "early", "count": 3, "skills": {"general": 1}, "capacity": {"phone": 1},
         "shift": {"start_s": 0, "end_s": 20_000}},
        {"name": "late", "count": 3, "skills": {"general": 1}, "capacity": {"phone": 1},
         "shift": {"start_s": 20_000, "end_s": 40_000}},
    ]  # fmt: skip
    decisions: list[Decision] = []
    r = simulate(parse_scenario(doc), on_decision=decisions.append)
    given = [d for d in decisions if d.kind == "assigned"]
    assert {(d.agent or "")[:4] for d in given if d.ts < 20_000_000} == {"earl"}
    assert {(d.agent or "")[:4] for d in given if d.ts >= 20_000_000} == {"late"}
    assert r["assigned"] == r["tickets"]  # nothing left behind at the hand-over
    # Occupancy counts on-duty time only: 2 Erlang over the 3 agents on duty.
    assert r["occupancy"] == pytest.approx(2.0 / 3.0, abs=0.03)


def test_repeating_shifts_log_agents_in_again() -> None:
    doc = _doc(duration_s=10_000.0, warmup_s=0.0)
    doc["agents"][0]["shift"] = {"start_s": 0, "end_s": 1000, "repeat_s": 2000}
    seen: list[Decision] = []
    simulate(parse_scenario(doc), on_decision=seen.append)
    windows = {d.ts // 2_000_000 for d in seen if d.kind == "assigned"}
    assert windows >= {0, 1, 2, 3, 4}
    assert all(d.ts % 2_000_000 <= 1_000_000 for d in seen if d.kind == "assigned" and
               d.step == "initial")  # fmt: skip


def test_region_ladder_steps_run_when_their_timers_fall_due() -> None:
    # Callers from "us", agents only in "eu": nobody may take a ticket until the ladder
    # widens to any region after 30 s, through claim_timers + route + reroute.
    doc = _doc(duration_s=20_000.0, warmup_s=0.0)
    doc["arrivals"][0]["rate_per_s"] = 0.002
    doc["arrivals"][0]["ticket"]["region"] = "us"
    doc["agents"][0]["regions"] = ["eu"]
    doc["policy"]["queues"][0]["region_ladder"] = [{"after_s": 30, "widen": "any"}]
    decisions: list[Decision] = []
    r = simulate(parse_scenario(doc), on_decision=decisions.append)
    waits = [d.ts - d.ticket_ts for d in decisions if d.kind == "assigned"]
    assert r["steps"] == {"region:any": r["assigned"]}
    assert min(waits) == 30_000
    assert sum(w == 30_000 for w in waits) > 0.9 * len(waits)
    assert sum(d.kind == "queued" for d in decisions) == len(waits)  # all waited first


def test_overflow_moves_waiting_tickets_to_the_target_queue() -> None:
    # Queue "experts" needs expert level 3, which nobody has; after 20 s its tickets
    # overflow into "general", where the agents qualify.
    doc = _doc(duration_s=20_000.0, warmup_s=0.0)
    doc["arrivals"][0]["rate_per_s"] = 0.002
    doc["agents"][0]["skills"] = {"general": 1, "expert": 1}
    doc["policy"]["queues"] = [
        {"name": "experts", "strategy": "round_robin", "skills": {"expert": 3},
         "overflow": {"after_s": 20, "to": "general"}},
        {"name": "general", "strategy": "round_robin", "match": {"channel": "none"}},
    ]  # fmt: skip
    r = simulate(parse_scenario(doc))
    assert r["steps"] == {"overflow:general": r["assigned"]}
    assert r["per_queue"]["experts"]["tickets"] == r["tickets"]  # counted by entry queue
    assert r["asa_s"] >= 20.0 - 0.001  # tickets carry ts in whole ms


def test_multiskill_scenario_escalates_along_the_region_ladder() -> None:
    r = simulate(_multiskill())
    steps = r["steps"]
    assert any("region:neighbors" in s for s in steps), steps
    assert any("region:any" in s for s in steps), steps
    assert set(r["per_queue"]) >= {"billing", "tech", "vip", "digital"}
    assert r["abandoned"] > 0
    assert 0.0 < r["share_best_skilled"] < 1.0
    assert 0.0 < r["fairness_jain"] <= 1.0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fast_store_decides_exactly_like_the_reference_store(strategy: str) -> None:
    sc = _multiskill(5400.0).with_strategy(strategy)
    fast: list[Decision] = []
    ref: list[Decision] = []
    r_fast = simulate(sc, on_decision=fast.append)
    r_ref = simulate(sc, store=MemoryAgentStore(), on_decision=ref.append)
    assert len(fast) > 1000
    assert fast == ref
    assert _without_wall_clock(r_fast) == _without_wall_clock(r_ref)


def test_fast_store_matches_the_reference_with_offers_and_a_long_queue() -> None:
    doc = mmn_doc(4, 5.0, aht_s=60.0, duration_s=3000.0, patience_s=400.0)
    doc["policy"]["queues"][0]["offer"] = {"timeout_s": 30}
    doc["policy"]["aging"] = {"per_priority_s": 120}
    doc["arrivals"].append(copy.deepcopy(doc["arrivals"][0]))
    doc["arrivals"][1].update(name="urgent", rate_per_s=0.01)
    doc["arrivals"][1]["ticket"]["priority"] = 1
    sc = parse_scenario(doc)
    fast: list[Decision] = []
    ref: list[Decision] = []
    simulate(sc, on_decision=fast.append)
    simulate(sc, store=MemoryAgentStore(), on_decision=ref.append)
    assert any(d.kind == "offered" for d in fast)
    assert fast == ref


def test_progress_is_reported_while_running() -> None:
    seen: list[dict[str, Any]] = []
    simulate(_multiskill(30_000.0), progress=lambda p: seen.append(dict(p)), progress_every_s=0.0)
    assert seen
    assert {"sim_s", "duration_s", "tickets", "wall_s", "tickets_per_wall_s"} <= set(seen[-1])


# ---- command line ----------------------------------------------------------------------------
def test_simulate_command_prints_one_json_object(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(_doc(duration_s=2000.0)))
    assert main(["--scenario", str(path), "--json", "--quiet"]) == RET_OK
    out = json.loads(capsys.readouterr().out)
    assert out["scenario"]["agents"] == 3
    assert {"p_wait", "asa_s", "asa_ci95_s", "service_level", "per_queue"} <= set(out)


@pytest.mark.slow
def test_simulate_command_prints_a_table_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    path = os.path.join(SCENARIOS, "erlang_c_10.yaml")
    assert main(["--scenario", path, "--seed", "1", "--strategy", "round_robin"]) == RET_OK
    out = capsys.readouterr().out
    assert "service lvl" in out and "general" in out and "round_robin" in out


def test_simulate_command_lists_scenario_errors(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(_set(["arrivals", 0, "rate_per_s"], 0)))
    assert main(["--scenario", str(path), "--quiet"]) == RET_INVALID
    assert "arrivals[0].rate_per_s: must be > 0" in capsys.readouterr().err
