"""engine.config: DISPATCH_* parsing, errors that name the variable, dev.env, topic names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config import (
    LOGICAL_TOPICS,
    ConfigError,
    KafkaSettings,
    Settings,
    Topics,
    read_env_file,
)

pytestmark = pytest.mark.unit

SASL = {
    "DISPATCH_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "DISPATCH_KAFKA_SASL_MECHANISM": "scram-sha-512",
    "DISPATCH_KAFKA_SASL_USERNAME": "dispatch",
    "DISPATCH_KAFKA_SASL_PASSWORD": "s3cret",
}
BOOTSTRAP = "kafka.bootstrap_servers"


def attr(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kafka.bootstrap_servers == ("127.0.0.1:9092",)
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.redis_prefix == "dispatch"
    assert (settings.group, settings.sla_group) == ("dispatchers", "sla-tracker")
    assert (settings.http_port, settings.batch_max, settings.policy_path) == (9400, 500, None)
    assert settings.state_dir == Path(".dispatch")
    assert settings.topics == Topics()
    assert (settings.gateway.host, settings.gateway.port) == ("0.0.0.0", 8080)
    assert settings.gateway.publish_timeout_ms == 5000


@pytest.mark.parametrize(
    ("env", "path", "expected"),
    [
        ({"DISPATCH_KAFKA_BOOTSTRAP": "k1:9092,k2:9093"}, BOOTSTRAP, ("k1:9092", "k2:9093")),
        ({"DISPATCH_KAFKA_BOOTSTRAP": " k1:1 , [::1]:9092 ,"}, BOOTSTRAP, ("k1:1", "[::1]:9092")),
        ({"DISPATCH_KAFKA_CLIENT_ID": "dispatch-7"}, "kafka.client_id", "dispatch-7"),
        ({"DISPATCH_REDIS_URL": "rediss://:pw@r:6380/2"}, "redis_url", "rediss://:pw@r:6380/2"),
        ({"DISPATCH_REDIS_URL": "unix:///run/redis.sock"}, "redis_url", "unix:///run/redis.sock"),
        ({"DISPATCH_REDIS_URL": "redis+sentinel://s1:26379,s2/main"}, "redis_url", "redis+sentinel://s1:26379,s2/main"),
        ({"DISPATCH_REDIS_URL": "rediss+cluster://c1:7000"}, "redis_url", "rediss+cluster://c1:7000"),
        ({"DISPATCH_REDIS_PREFIX": "acme:prod"}, "redis_prefix", "acme:prod"),
        ({"DISPATCH_TOPIC_PREFIX": "acme."}, "topics.tickets_events", "acme.tickets.events"),
        ({"DISPATCH_POLICY": "/etc/policy.yaml"}, "policy_path", Path("/etc/policy.yaml")),
        ({"DISPATCH_HTTP_PORT": "9500"}, "http_port", 9500),
        ({"DISPATCH_HTTP_PORT": "0"}, "http_port", 0),  # no HTTP server
        ({"DISPATCH_GATEWAY_PORT": "8443"}, "gateway.port", 8443),
        ({"DISPATCH_GATEWAY_HOST": "127.0.0.1"}, "gateway.host", "127.0.0.1"),
        ({"DISPATCH_GATEWAY_HOST": "[::1]"}, "gateway.host", "::1"),
        ({"DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS": "2500"}, "gateway.publish_timeout_ms", 2500),
        ({"DISPATCH_GROUP": "dispatchers-eu"}, "group", "dispatchers-eu"),
        ({"DISPATCH_GROUP": "  "}, "group", "dispatchers"),  # blank counts as unset
        ({"DISPATCH_SLA_GROUP": "sla-eu"}, "sla_group", "sla-eu"),
        ({"DISPATCH_ARCHIVER_GROUP": "arch-eu"}, "archiver_group", "arch-eu"),
        ({"DISPATCH_ARCHIVE_URL": "postgresql://u@db/d"}, "archive_url", "postgresql://u@db/d"),
        ({"DISPATCH_DECISION_LOG_RETENTION_DAYS": "30"}, "decision_log_retention_days", 30),
        ({"DISPATCH_DECISION_LOG": "0"}, "decision_log", False),
        ({"DISPATCH_BATCH_MAX": "2000"}, "batch_max", 2000),
        ({"DISPATCH_POLL_TIMEOUT_MS": "0"}, "poll_timeout_ms", 0),
        ({"DISPATCH_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"DISPATCH_STATE_DIR": "/var/lib/dispatch"}, "state_dir", Path("/var/lib/dispatch")),
        (SASL, "kafka.security_protocol", "SASL_SSL"),
        (SASL, "kafka.sasl_mechanism", "SCRAM-SHA-512"),
        (SASL, "kafka.sasl_username", "dispatch"),
        (SASL, "kafka.sasl_password", "s3cret"),
    ],
)  # fmt: skip
def test_variable_sets_setting(env: dict[str, str], path: str, expected: Any) -> None:
    assert attr(Settings.from_env(env), path) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DISPATCH_HTTP_PORT": "http"}, "DISPATCH_HTTP_PORT"),
        ({"DISPATCH_HTTP_PORT": "70000"}, "DISPATCH_HTTP_PORT"),
        ({"DISPATCH_BATCH_MAX": "0"}, "DISPATCH_BATCH_MAX"),
        ({"DISPATCH_ARCHIVE_URL": "archive.db"}, "DISPATCH_ARCHIVE_URL"),
        ({"DISPATCH_DECISION_LOG_RETENTION_DAYS": "0"}, "DISPATCH_DECISION_LOG_RETENTION_DAYS"),
        ({"DISPATCH_DECISION_LOG": "2"}, "DISPATCH_DECISION_LOG"),
        ({"DISPATCH_GATEWAY_PORT": "0"}, "DISPATCH_GATEWAY_PORT"),
        ({"DISPATCH_GATEWAY_HOST": "http://x"}, "DISPATCH_GATEWAY_HOST"),
        ({"DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS": "10"}, "DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS"),
        ({"DISPATCH_POLL_TIMEOUT_MS": "-1"}, "DISPATCH_POLL_TIMEOUT_MS"),
        ({"DISPATCH_KAFKA_BOOTSTRAP": "kafka"}, "DISPATCH_KAFKA_BOOTSTRAP"),
        ({"DISPATCH_KAFKA_BOOTSTRAP": "kafka:0"}, "DISPATCH_KAFKA_BOOTSTRAP"),
        ({"DISPATCH_KAFKA_BOOTSTRAP": ",,"}, "DISPATCH_KAFKA_BOOTSTRAP"),
        ({"DISPATCH_KAFKA_BOOTSTRAP": "kafka://k:9092"}, "DISPATCH_KAFKA_BOOTSTRAP"),
        ({"DISPATCH_REDIS_URL": "http://r:6379"}, "DISPATCH_REDIS_URL"),
        ({"DISPATCH_REDIS_URL": "r:6379"}, "DISPATCH_REDIS_URL"),
        ({"DISPATCH_REDIS_URL": "redis+proxy://r"}, "DISPATCH_REDIS_URL"),
        ({"DISPATCH_REDIS_PREFIX": "{pool}"}, "DISPATCH_REDIS_PREFIX"),
        ({"DISPATCH_LOG_LEVEL": "loud"}, "DISPATCH_LOG_LEVEL"),
        ({"DISPATCH_TOPIC_PREFIX": "acme/"}, "DISPATCH_TOPIC_PREFIX"),
        ({"DISPATCH_TOPIC_PREFIX": "x" * 240}, "DISPATCH_TOPIC_PREFIX"),
        ({"DISPATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "DISPATCH_KAFKA_SECURITY_PROTOCOL"),
        ({"DISPATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "DISPATCH_KAFKA_SASL_MECHANISM"),
        ({**SASL, "DISPATCH_KAFKA_SASL_MECHANISM": "MD5"}, "DISPATCH_KAFKA_SASL_MECHANISM"),
        ({**SASL, "DISPATCH_KAFKA_SASL_USERNAME": ""}, "DISPATCH_KAFKA_SASL_USERNAME"),
        ({**SASL, "DISPATCH_KAFKA_SASL_PASSWORD": ""}, "DISPATCH_KAFKA_SASL_PASSWORD"),
        ({**SASL, "DISPATCH_KAFKA_SECURITY_PROTOCOL": "SSL"}, "DISPATCH_KAFKA_SECURITY_PROTOCOL"),
        ({"DISPATCH_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "DISPATCH_KAFKA_SSL_CAFILE"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_ssl_files_need_an_ssl_protocol(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="DISPATCH_KAFKA_SECURITY_PROTOCOL"):
        Settings.from_env({"DISPATCH_KAFKA_SSL_CAFILE": str(ca)})
    env = {"DISPATCH_KAFKA_SSL_CAFILE": str(ca), "DISPATCH_KAFKA_SECURITY_PROTOCOL": "SSL"}
    assert Settings.from_env(env).kafka.ssl_cafile == str(ca)


def test_secrets_are_not_shown() -> None:
    settings = Settings.from_env(SASL)
    assert "s3cret" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_REDIS_URL": "http://user:hunter2@r:6379"})
    assert "hunter2" not in str(caught.value)


def test_explicit_environ_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPATCH_HTTP_PORT", "not-a-port")
    assert Settings.from_env({}).http_port == 9400
    with pytest.raises(ConfigError, match="DISPATCH_HTTP_PORT"):
        Settings.from_env()


def test_dev_env_fills_in_missing_variables_and_the_environment_wins(tmp_path: Path) -> None:
    dev_env = tmp_path / "dev.env"
    dev_env.write_text(
        "# written by dispatch dev up\n"
        "\n"
        "DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:41000\n"
        "export DISPATCH_REDIS_URL='redis://127.0.0.1:41001/0'\n"
        'DISPATCH_GROUP="from-file"\n'
    )
    env = {"DISPATCH_GROUP": "from-env", "DISPATCH_HTTP_PORT": ""}
    settings = Settings.from_env(env, dev_env=dev_env)
    assert settings.kafka.bootstrap_servers == ("127.0.0.1:41000",)
    assert settings.redis_url == "redis://127.0.0.1:41001/0"
    assert settings.group == "from-env"
    assert Settings.from_env({}, dev_env=tmp_path / "missing.env") == Settings()
    assert Settings.from_env({}) == Settings()  # no dev_env: no file is read


def test_malformed_dev_env_line_names_file_and_line(tmp_path: Path) -> None:
    dev_env = tmp_path / "dev.env"
    dev_env.write_text("DISPATCH_GROUP=a\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match=r"dev\.env:2"):
        read_env_file(dev_env)


def test_load_reads_dev_env_from_the_state_dir(tmp_path: Path) -> None:
    (tmp_path / "dev.env").write_text("DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:42000\n")
    settings = Settings.load({"DISPATCH_STATE_DIR": str(tmp_path)})
    assert settings.kafka.bootstrap_servers == ("127.0.0.1:42000",)
    assert settings.state_dir == tmp_path


@pytest.mark.parametrize(
    ("prefix", "logical", "full"),
    [
        ("", "tickets.events", "tickets.events"),
        ("", "dispatch.deadletter", "dispatch.deadletter"),
        ("acme.", "agents.events", "acme.agents.events"),
        ("staging-", "dispatch.assignments", "staging-dispatch.assignments"),
        ("eu.prod.", "sla.events", "eu.prod.sla.events"),
    ],
)
def test_topics_carry_the_prefix(prefix: str, logical: str, full: str) -> None:
    settings = Settings(topic_prefix=prefix)
    assert settings.topic(logical) == full
    assert getattr(settings.topics, LOGICAL_TOPICS[logical]) == full


def test_every_logical_topic_has_a_distinct_name() -> None:
    names = Settings(topic_prefix="p.").topics.by_logical()
    assert list(names) == list(LOGICAL_TOPICS)
    assert len(set(names.values())) == len(LOGICAL_TOPICS) == 9
    assert all(name.startswith("p.") for name in names.values())


def test_unknown_logical_topic_is_a_key_error() -> None:
    with pytest.raises(KeyError, match=r"tickets\.evnts"):
        Settings().topic("tickets.evnts")


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.group = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        KafkaSettings().client_id = "other"  # type: ignore[misc]
