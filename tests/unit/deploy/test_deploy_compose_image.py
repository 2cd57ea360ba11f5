"""The compose file, the Dockerfile and the README's Redis URLs agree with the code
(see test_deploy_manifests.py for how the deploy files are checked)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from engine.adapters.redis.connect import CLUSTER_SCHEMES, client_from_url, parse_url
from engine.config import Settings
from tests.unit.deploy.deploy_helpers import (
    DEFAULTS,
    DEPLOY,
    PROCESSES,
    ROOT,
    RUN_AS,
    compose,
    dockerfile_instructions,
    final_stage,
    from_image,
    per_process,
    prometheus_config,
    run_choices,
    yaml_docs,
)

pytestmark = pytest.mark.unit


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "topics", *PROCESSES, "prometheus"} <= set(services)
    assert services["topics"]["command"] == ["topics", "create"]
    for name, service in services.items():
        one_shot = service.get("restart") == "no"
        assert one_shot or service["healthcheck"]["test"], f"{name} has no healthcheck"
        for dep, cond in service.get("depends_on", {}).items():
            target = services[dep]
            if cond["condition"] == "service_healthy":
                assert target["healthcheck"]["test"], f"{name} waits on {dep}'s health"
            elif cond["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} must be one-shot"
            else:
                assert cond["condition"] == "service_started"
    for process in PROCESSES:
        service = services[process]
        assert service["deploy"]["replicas"] == 2
        assert service["command"] == ["run", process] and process in run_choices()
        waits = service["depends_on"]
        assert waits["topics"]["condition"] == "service_completed_successfully"
        assert {"kafka", "redis"} <= set(waits)
        assert process in services["prometheus"]["depends_on"]


def test_compose_engine_services_are_hardened_like_the_pods() -> None:
    engine = {n: s for n, s in compose()["services"].items() if from_image(s)}
    # the archiver (docs/archive.md) and its one-shot schema migration run the image too
    assert set(engine) == {"topics", "archive-db", "archiver", "gateway", *PROCESSES}
    for name, s in engine.items():
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert (DEPLOY / s["build"]["context"]).resolve() == ROOT
        assert s["user"] == f"{RUN_AS}:{RUN_AS}", name
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
    assert engine["sla-tracker"]["image"] == engine["dispatcher"]["image"]
    assert engine["sla-tracker"]["build"] == engine["dispatcher"]["build"]


@per_process
def test_compose_health_and_scrape_use_the_port_the_code_serves(process: str) -> None:
    service = compose()["services"][process]
    port = Settings.from_env({k: str(v) for k, v in service["environment"].items()}).http_port
    assert port == DEFAULTS.http_port
    check = " ".join(service["healthcheck"]["test"])
    assert f":{port}/healthz" in check
    assert str(port) in service["expose"]
    assert not service.get("ports")  # replicas: nothing published on the host
    config = yaml_docs(Path(prometheus_config()))[0]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == process]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [process] and sd["port"] == port


def test_compose_bind_mounts_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name}: {source}"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_slim() -> None:
    steps = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    bases = [a.split()[0] for op, a in steps if op == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) for b in bases]
    assert len(resolved) >= 2 and set(resolved) == {"python:3.11-slim"}
    assert any(op == "RUN" and "pip install ." in a for op, a in steps)
    assert any(op == "COPY" and a.startswith("--from=") for op, a in final_stage())


def test_dockerfile_runs_the_console_script_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [a for op, a in stage if op == "USER"]
    assert users and users[-1].split(":")[0] == str(RUN_AS)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = [yaml.safe_load(a) for op, a in stage if op == "ENTRYPOINT"]
    assert entrypoint == ["dispatch"] and "dispatch" in scripts
    (cmd,) = [yaml.safe_load(a) for op, a in stage if op == "CMD"]
    assert cmd == ["run", "dispatcher"]
    assert str(DEFAULTS.http_port) in [p for op, a in stage if op == "EXPOSE" for p in a.split()]
    (health,) = [a for op, a in stage if op == "HEALTHCHECK"]
    assert "python" in health and "/healthz" in health and str(DEFAULTS.http_port) in health


def test_image_build_context_holds_what_pip_install_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        src.rstrip("/")
        for op, a in dockerfile_instructions()
        if op == "COPY" and not a.startswith("--from=")
        for src in a.split()[:-1]
    }
    assert needed <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    for path in copied:
        assert (ROOT / path).exists(), path
        verdict = [not p.startswith("!") for p in patterns if _ignores(p.lstrip("!"), path)]
        assert verdict and verdict[-1] is False, f"{path} is excluded from the build context"


def _ignores(pattern: str, path: str) -> bool:
    pattern = pattern.strip("/")
    return pattern in ("*", path) or pattern.removeprefix("**/") == path


# ---------------------------------------------------------------- Redis URLs in the README


def readme_redis_urls() -> list[str]:
    text = (DEPLOY / "README.md").read_text()
    urls = re.findall(r"`((?:rediss?(?:\+sentinel|\+cluster)?|unix)://[^`\s]+)`", text)
    assert any("+sentinel" in u for u in urls) and any("+cluster" in u for u in urls)
    return urls


def test_readme_redis_urls_are_understood_by_the_redis_adapter() -> None:
    for url in readme_redis_urls():
        if url.partition("://")[0] in CLUSTER_SCHEMES:
            assert parse_url(url).kind == "cluster"  # building a client would connect
        else:
            client_from_url(url).close()  # lazy: parses without connecting


def test_readme_redis_urls_are_accepted_by_settings() -> None:
    for url in readme_redis_urls():
        assert Settings.from_env({"DISPATCH_REDIS_URL": url}).redis_url == url
