"""deploy/prometheus and deploy/grafana agree with the code and with each other.

promtool checks and unit-tests the rules of every ``rules/*.rules.yml`` (dispatchers:
dispatch.rules.yml, SLA trackers: sla.rules.yml, archivers: archive.rules.yml; ``promtool
test rules`` on their
``*.rules.test.yml``) and checks the config; every metric named by a rule or a wallboard
query is one that :class:`engine.dispatch.metrics.DispatcherMetrics` or
:class:`engine.sla.metrics.SlaMetrics` exports (read from built registries, never a copy
of the list) or a recording rule; every rule selects a job the config scrapes; the
PrometheusRule of deploy/k8s carries the same groups as dispatch.rules.yml, and compose
mounts the config and every rules file where the config expects them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.archive.metrics import ArchiverMetrics
from engine.dispatch.metrics import DispatcherMetrics
from engine.sla.metrics import SlaMetrics
from tests.unit.deploy.deploy_helpers import promtool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULES = PROM / "rules" / "dispatch.rules.yml"
SLA_RULES = PROM / "rules" / "sla.rules.yml"
ARCHIVE_RULES = PROM / "rules" / "archive.rules.yml"
RULE_FILES = (RULES, SLA_RULES, ARCHIVE_RULES)
CONFIG = PROM / "prometheus.yml"
WALLBOARD = DEPLOY / "grafana" / "dispatch-wallboard.json"
PROMETHEUS_RULE = DEPLOY / "k8s" / "prometheusrule.yaml"
CONTAINER_DIR = Path("/etc/prometheus")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
# Metrics Prometheus itself attaches to every target.
SCRAPE_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset"}
PROMQL_WORDS |= {"group_left", "group_right", "inf", "nan"}
REQUIRED_ALERTS = {
    "DispatcherDown",
    "DispatcherStalled",
    "DispatchQueueGrowing",
    "DispatchNoAgentForWaitingTickets",
    "DispatchConsumerLagHigh",
    "DispatchDeadLetters",
    "DispatchDecisionLatencyHigh",
    "SlaServiceLevelBelowTarget",
    "SlaBreachRateHigh",
    "SlaTrackerBehind",
    "SlaTrackerConsumerLagHigh",
    "ArchiverDown",
    "ArchiverBehind",
    "ArchiverNearRetention",
    "ArchiverDeadLetters",
}
REQUIRED_RECORDINGS = {
    "dispatch:sla_decided:increase1h",
    "dispatch:sla_service_level:ratio_1h",
    "dispatch:sla_breaches_per_minute:rate5m",
}
# The scrape job of each process, as the rules and the wallboard select it.
JOBS = {"dispatcher", "sla-tracker", "archiver"}
# Gauges describing shared state, exported identically by every replica: max, never sum.
SHARED_GAUGES = (
    "dispatch_waiting_tickets",
    "dispatch_oldest_waiting_seconds",
    "dispatch_agents",
    "dispatch_utilisation_ratio",
    "dispatch_queue_utilisation_ratio",
    "dispatch_sla_watermark_lag_seconds",
    "dispatch_sla_deadlines",
)


def families() -> dict[str, str]:
    """Metric family -> type, of what a dispatcher and an SLA tracker serve (built
    registries: labelled families are listed even before their first sample)."""
    registries = (DispatcherMetrics().registry, SlaMetrics().registry, ArchiverMetrics().registry)
    return {m.name: m.type for r in registries for m in r.collect()}


def exported() -> set[str]:
    """Sample names a dispatcher or an SLA tracker serves (suffixes by metric type)."""
    return {
        name + suffix for name, kind in families().items() for suffix in SUFFIXES.get(kind, ("",))
    }


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names, label values, grouping labels, durations or Grafana variables."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values, strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    names = re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", expr)
    return {n for n in names if n.lower() not in PROMQL_WORDS}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_tests(rules: Path) -> Path:
    return rules.with_name(rules.name.removesuffix(".yml") + ".test.yml")


def all_rules() -> list[dict[str, Any]]:
    """Alerting and recording rules of every rules file."""
    return [r for path in RULE_FILES for g in load(path)["groups"] for r in g["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


def recorded() -> set[str]:
    """Series names the recording rules produce."""
    return {r["record"] for r in all_rules() if "record" in r}


def rule_name(rule: dict[str, Any]) -> str:
    return str(rule.get("alert") or rule["record"])


def wallboard_exprs() -> Iterator[tuple[str, str]]:
    board = json.loads(WALLBOARD.read_text(encoding="utf-8"))
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            query = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            yield f"variable {var['name']}", inner.group(1) if inner else query


# ---------------------------------------------------------------- the PromQL reader


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="dispatcher"} == 1', {"up"}),
        ("sum by (queue) (rate(a_total[5m])) > 0 and b", {"a_total", "b"}),
        ('histogram_quantile(0.99, sum by (le) (rate(h_bucket{le="+Inf"}[$x])))', {"h_bucket"}),
        ("time() - max without (pod) (t_seconds) > 1e3", {"t_seconds"}),
        ("a > bool 2 unless on (queue) b offset 5m", {"a", "b"}),
    ],
)
def test_metric_names_finds_the_series_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_come_with_their_sample_suffixes() -> None:
    names = exported()
    assert {"dispatch_decisions_total", "dispatch_time_to_assign_seconds_bucket"} <= names
    assert {"dispatch_waiting_tickets", "dispatch_consumer_lag"} <= names
    assert "dispatch_decisions" not in names


def test_exported_names_include_the_sla_tracker_metrics() -> None:
    names = exported()
    assert {"dispatch_sla_events_total", "dispatch_tickets_created_total"} <= names
    assert {"dispatch_first_response_seconds_bucket", "dispatch_csat_score_count"} <= names
    assert {"dispatch_sla_watermark_lag_seconds", "dispatch_sla_deadlines"} <= names
    assert "dispatch_sla_events" not in names


# ---------------------------------------------------------------- alert rules


def test_rules_cover_every_required_alert() -> None:
    alerts = {r["alert"] for r in alert_rules()}
    assert alerts >= REQUIRED_ALERTS
    assert recorded() >= REQUIRED_RECORDINGS


def test_rule_expressions_name_only_exported_metrics() -> None:
    known = exported() | SCRAPE_METRICS
    for rule in all_rules():
        used = metric_names(rule["expr"])
        name = rule_name(rule)
        assert used, name
        # recordings are computed from exported series; alerts may use recordings
        allowed = known | recorded() if "alert" in rule else known
        assert used <= allowed, f"{name}: {sorted(used - allowed)}"


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for name in recorded():
        assert re.fullmatch(r"dispatch:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_counters_appear_in_rules_only_under_rate_or_increase() -> None:
    for rule in all_rules():
        for counter in re.findall(r"\b\w+_total\b", rule["expr"]):
            assert re.search(rf"(rate|increase)\(\s*{counter}\b", rule["expr"]), rule_name(rule)


def test_the_rule_files_are_those_the_config_loads() -> None:
    found = {p for pattern in load(CONFIG)["rule_files"] for p in PROM.glob(pattern)}
    assert found == set(RULE_FILES)
    names = [g["name"] for path in RULE_FILES for g in load(path)["groups"]]
    assert len(names) == len(set(names))


def test_prometheus_rule_carries_the_groups_of_the_dispatcher_rules_file() -> None:
    (doc,) = [d for d in yaml.safe_load_all(PROMETHEUS_RULE.read_text()) if d]
    assert doc["kind"] == "PrometheusRule"
    assert doc["spec"]["groups"] == load(RULES)["groups"]


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_promtool_checks_the_rules(rules: Path) -> None:
    done = promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_of_the_rules_pass(rules: Path) -> None:
    tests = rule_tests(rules)
    assert load(tests)["rule_files"] == [rules.name]
    done = promtool("test", "rules", str(tests))
    assert done.returncode == 0, done.stdout + done.stderr


def rule_test_cases(kind: str) -> list[dict[str, Any]]:
    return [
        c for rules in RULE_FILES for t in load(rule_tests(rules))["tests"] for c in t.get(kind, [])
    ]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    cases = rule_test_cases("alert_rule_test")
    for alert in {r["alert"] for r in alert_rules()}:
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == alert}
        assert outcomes == {True, False}, alert


def test_every_recording_rule_is_unit_tested() -> None:
    cases = rule_test_cases("promql_expr_test")
    tested = {n for c in cases for n in metric_names(c["expr"])}
    assert recorded() <= tested


# ---------------------------------------------------------------- config and compose


def test_promtool_checks_the_config_and_finds_the_rules() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    for rules in RULE_FILES:
        assert str(rules.relative_to(PROM)) in done.stdout


def test_compose_mounts_the_config_and_the_rules_where_the_config_expects_them() -> None:
    compose = load(DEPLOY / "compose.yaml")
    service = compose["services"]["prometheus"]
    (volume,) = service["volumes"]
    source, target = volume.split(":")[:2]
    assert (DEPLOY / source).resolve() == CONFIG
    config_dir = Path(target).parent
    assert config_dir == CONTAINER_DIR
    mounted = {
        Path(c["target"]): (DEPLOY / compose["configs"][c["source"]]["file"]).resolve()
        for c in service["configs"]
    }
    for pattern in load(CONFIG)["rule_files"]:
        found = {t: s for t, s in mounted.items() if t.match(str(config_dir / pattern))}
        assert set(found.values()) == set(PROM.glob(pattern)) == set(RULE_FILES)


def test_config_scrapes_the_dispatchers_and_sla_trackers_on_their_metrics_path() -> None:
    jobs = {j["job_name"]: j for j in load(CONFIG)["scrape_configs"]}
    for name in JOBS:
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics", name
    # every rule reading exported series selects one of the jobs by name (the job name
    # here and the Service name in k8s); rules over recordings inherit theirs
    for rule in all_rules():
        selected = set(re.findall(r'\bjob="([^"]+)"', rule["expr"]))
        if metric_names(rule["expr"]) <= recorded():
            continue
        assert selected and selected <= JOBS, f"{rule_name(rule)}: {sorted(selected)}"


# ---------------------------------------------------------------- wallboard


def test_wallboard_queries_name_only_exported_metrics() -> None:
    known = exported() | SCRAPE_METRICS | recorded()
    exprs = list(wallboard_exprs())
    assert exprs
    for title, expr in exprs:
        used = metric_names(expr)
        assert used, title
        assert used <= known, f"{title}: {sorted(used - known)}"


def test_wallboard_shows_every_dispatcher_metric() -> None:
    used = {n for _, e in wallboard_exprs() for n in metric_names(e)}
    families = {m.name for m in DispatcherMetrics().registry.collect()}
    shown = {f for f in families if any(u == f or u.startswith(f + "_") for u in used)}
    assert shown == families - {"dispatch_state_refresh_timestamp_seconds"}


def wallboard_series() -> set[str]:
    """Series the wallboard queries, with those behind the recordings it shows."""
    used = {n for _, e in wallboard_exprs() for n in metric_names(e)}
    rules = [r for r in all_rules() if r.get("record") in used]
    return used | {n for r in rules for n in metric_names(r["expr"])}


def test_wallboard_shows_every_sla_tracker_outcome() -> None:
    used = wallboard_series()
    families = {m.name for m in SlaMetrics().registry.collect()}
    shown = {f for f in families if any(u == f or u.startswith(f + "_") for u in used)}
    bookkeeping = {"dispatch_sla_records", "dispatch_sla_skipped", "dispatch_sla_duplicates"}
    bookkeeping |= {"dispatch_sla_agent_updates"}
    assert shown >= families - bookkeeping


def test_wallboard_aggregates_shared_gauges_with_max_and_the_rest_with_sum() -> None:
    shared = SHARED_GAUGES
    for title, expr in wallboard_exprs():
        if title.startswith("variable"):
            continue
        for name in shared:
            if re.search(rf"\b{name}\b", expr):
                assert re.match(r"max\b", expr), f"{title}: {expr}"
        if re.search(r"\bsum\b", expr):
            assert not any(re.search(rf"\b{n}\b", expr) for n in shared), title
