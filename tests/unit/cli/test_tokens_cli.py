"""`dispatch tokens create|list|revoke` (on the in-memory token store) and `dispatch run
gateway` refusing a taken port."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.adapters.memory.tokens import MemoryTokenStore
from engine.cli import main
from engine.exitcodes import RET_INVALID, RET_OK, RET_UNAVAILABLE
from engine.gateway.tokens import digest
from engine.ports import TokenStore

pytestmark = pytest.mark.unit


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MemoryTokenStore]:
    import consumers.tokens

    memory = MemoryTokenStore()
    closed: list[bool] = []

    def open_store(_settings: object) -> tuple[TokenStore, Callable[[], None]]:
        return memory, lambda: closed.append(True)

    monkeypatch.setattr(consumers.tokens, "open_store", open_store)
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))
    yield memory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_token_once_and_stores_its_hash(
    store: MemoryTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "tokens", "create", "--tenant", "acme", "--role", "agent", "--agent", "a1"
    )
    assert code == RET_OK
    token = out.strip()
    assert token.startswith("dsp_") and "\n" not in token
    info = store.find(digest(token))
    assert info is not None and (info.tenant, info.role, info.agent) == ("acme", "agent", "a1")
    assert info.token_id in err and "shown once" in err
    code, out, _ = run(capsys, "tokens", "list")
    assert code == RET_OK and info.token_id in out and token not in out
    code, out, _ = run(capsys, "tokens", "list", "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["token_id"] == info.token_id and row["revoked_ms"] is None


def test_create_refuses_a_bad_grant(
    store: MemoryTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tokens", "create", "--tenant", "acme", "--role", "agent")
    assert (code, out) == (RET_INVALID, "")
    assert "agent:" in err and store.all() == []
    code, _, err = run(capsys, "tokens", "create", "--tenant", "*", "--role", "supervisor")
    assert code == RET_INVALID and "tenant:" in err


def test_admin_tokens_span_every_tenant_and_json_output(
    store: MemoryTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "tokens", "create", "--tenant", "*", "--role", "admin", "--name", "root", "--json"
    )
    assert code == RET_OK
    made = json.loads(out)
    assert (made["tenant"], made["role"], made["name"]) == ("*", "admin", "root")
    assert store.find(digest(made["token"])) is not None


def test_revoke(store: MemoryTokenStore, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "tokens", "create", "--tenant", "acme", "--role", "producer")
    [info] = store.all()
    code, out, _ = run(capsys, "tokens", "revoke", info.token_id)
    assert code == RET_OK and info.token_id in out
    assert store.all()[0].revoked_ms is not None
    code, _, err = run(capsys, "tokens", "revoke", info.token_id)
    assert code == RET_INVALID and "no active token" in err


def test_an_unreachable_redis_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DISPATCH_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    code, _, err = run(capsys, "tokens", "list")
    assert code == RET_UNAVAILABLE and "unreachable" in err


def test_run_gateway_on_a_taken_port_exits_1_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("DISPATCH_GATEWAY_HOST", "127.0.0.1")
        monkeypatch.setenv("DISPATCH_GATEWAY_PORT", str(taken.getsockname()[1]))
        code, _, err = run(capsys, "run", "gateway")
    assert code == RET_INVALID
    assert "DISPATCH_GATEWAY_PORT" in err
