"""deploy/prometheus and deploy/grafana agree with the code and with each other.

promtool checks and unit-tests the rules (``promtool test rules``) and checks the
config; every metric named by an alert or a wallboard query is one that
:class:`engine.metrics.DispatcherMetrics` exports (read from a built registry, never a
copy of the list); the PrometheusRule of deploy/k8s carries the same groups as the
rules file, and compose mounts the config and the rules where the config expects them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.metrics import DispatcherMetrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULES = PROM / "rules" / "dispatch.rules.yml"
RULE_TESTS = PROM / "rules" / "dispatch.rules.test.yml"
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
}


def exported() -> set[str]:
    """Sample names a dispatcher serves, from its registry (suffixes by metric type)."""
    return {
        m.name + suffix
        for m in DispatcherMetrics().registry.collect()
        for suffix in SUFFIXES.get(m.type, ("",))
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


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load(RULES)["groups"] for r in g["rules"]]


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


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required under CI (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


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


# ---------------------------------------------------------------- alert rules


def test_rules_cover_every_required_alert() -> None:
    alerts = {r["alert"] for r in alert_rules()}
    assert alerts >= REQUIRED_ALERTS


def test_alert_expressions_name_only_exported_metrics() -> None:
    known = exported() | SCRAPE_METRICS
    for rule in alert_rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']}: {sorted(used - known)}"


def test_counters_appear_in_rules_only_under_rate_or_increase() -> None:
    for rule in alert_rules():
        for counter in re.findall(r"\b\w+_total\b", rule["expr"]):
            assert re.search(rf"(rate|increase)\(\s*{counter}\b", rule["expr"]), rule["alert"]


def test_prometheus_rule_carries_the_groups_of_the_rules_file() -> None:
    (doc,) = [d for d in yaml.safe_load_all(PROMETHEUS_RULE.read_text()) if d]
    assert doc["kind"] == "PrometheusRule"
    assert doc["spec"]["groups"] == load(RULES)["groups"]


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    cases = [c for t in load(RULE_TESTS)["tests"] for c in t.get("alert_rule_test", [])]
    for alert in REQUIRED_ALERTS:
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == alert}
        assert outcomes == {True, False}, alert


# ---------------------------------------------------------------- config and compose


def test_promtool_checks_the_config_and_finds_the_rules() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(RULES.relative_to(PROM)) in done.stdout


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
        assert set(found.values()) == set(PROM.glob(pattern)) == {RULES}


def test_config_scrapes_the_dispatchers_on_their_metrics_path() -> None:
    (job,) = [j for j in load(CONFIG)["scrape_configs"] if j["job_name"] == "dispatcher"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    # the rules select job="dispatcher", the job name here and the Service name in k8s
    assert all('job="dispatcher"' in r["expr"] for r in alert_rules())


# ---------------------------------------------------------------- wallboard


def test_wallboard_queries_name_only_exported_metrics() -> None:
    known = exported() | SCRAPE_METRICS
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


def test_wallboard_aggregates_shared_gauges_with_max_and_the_rest_with_sum() -> None:
    shared = ("dispatch_waiting_tickets", "dispatch_oldest_waiting_seconds", "dispatch_agents")
    shared += ("dispatch_utilisation_ratio",)
    for title, expr in wallboard_exprs():
        if title.startswith("variable"):
            continue
        for name in shared:
            if re.search(rf"\b{name}\b", expr):
                assert re.match(r"max\b", expr), f"{title}: {expr}"
        if re.search(r"\bsum\b", expr):
            assert not any(re.search(rf"\b{n}\b", expr) for n in shared), title
