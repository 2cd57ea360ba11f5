"""Load a routing policy from a YAML file (the I/O half of ``engine.core.policy``), and watch
it for changes (hot reload).

A policy's ``revision`` is the first 12 hex digits of the SHA-256 of its file's text: the
same file gives the same revision on every replica, so decisions and ``/readyz`` say which
policy decided. :class:`PolicyWatcher` re-reads the file every few seconds (a Kubernetes
ConfigMap mount changes in place, by a symlink swap: the content is compared, not mtimes);
a changed file that validates becomes the active policy, a bad one is refused with every
error's path and the old one keeps serving.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.core.policy import Policy, parse_policy
from engine.errors import PolicyError

DEMO_POLICY = "demo/policy.yaml"


def read_yaml(path: str | Path) -> Any:
    """Parse YAML; syntax errors become a PolicyError naming the line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([("(file)", f"cannot read {path}: {exc.strerror or exc}")]) from exc
    return parse_yaml_text(text)


def parse_yaml_text(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([(where, f"YAML syntax error: {problem}")]) from exc


def revision_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _read_text(path: str | Path | None) -> str:
    if path is None:
        return resources.files("engine").joinpath(DEMO_POLICY).read_text(encoding="utf-8")
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([("(file)", f"cannot read {path}: {exc.strerror or exc}")]) from exc


def policy_from_text(text: str) -> Policy:
    return replace(parse_policy(parse_yaml_text(text)), revision=revision_of(text))


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, or the demo's built-in policy when ``path`` is None."""
    return policy_from_text(_read_text(path))


APPLIED, REFUSED = "applied", "refused"


@dataclass(frozen=True)
class Reload:
    """A changed policy file: ``applied`` (``policy`` is the new one) or ``refused``
    (``errors`` say why; the old policy stays)."""

    result: str
    policy: Policy
    errors: tuple[str, ...] = ()


class PolicyWatcher:
    """Notices a changed policy file. ``check`` is cheap (one read and a hash) and is called
    between batches, so a new policy applies to whole batches only."""

    def __init__(self, path: str | Path | None, current: Policy) -> None:
        self.path = path
        self.current = current
        self._seen = current.revision

    def check(self) -> Reload | None:
        """None when the file did not change since the last check (or there is no file)."""
        if self.path is None:
            return None
        try:
            text = _read_text(self.path)
        except PolicyError as exc:  # a ConfigMap mid-swap, a deleted file: keep serving
            return self._refused(f"unreadable:{exc}", [f"{p}: {m}" for p, m in exc.errors])
        revision = revision_of(text)
        if revision == self._seen:
            return None
        self._seen = revision
        try:
            policy = policy_from_text(text)
        except PolicyError as exc:
            return Reload(REFUSED, self.current, tuple(f"{p}: {m}" for p, m in exc.errors))
        self.current = policy
        return Reload(APPLIED, policy)

    def _refused(self, marker: str, errors: list[str]) -> Reload | None:
        if marker == self._seen:
            return None
        self._seen = marker
        return Reload(REFUSED, self.current, tuple(errors))
