"""``python -m engine.gateway.openapi_dump [--check]``: write the gateway's OpenAPI document
to ``docs/openapi.json`` (what ``GET /openapi.json`` serves), or report it out of date.

The document depends on the routes and the codec's schemas only, so it is built from an
application on the in-memory adapters. ``tests/unit/gateway`` fails when the checked-in file
differs from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.exitcodes import RET_INVALID, RET_OK


def document() -> dict[str, Any]:
    """The OpenAPI document, as the gateway serves it."""
    from engine.adapters.memory import MemoryAgentStore, MemoryLog
    from engine.adapters.memory.tokens import MemoryTokenStore
    from engine.clock import WallClock
    from engine.gateway.app import create_app
    from engine.gateway.deps import Gateway
    from engine.gateway.hub import StreamHub
    from engine.gateway.streams import streams_router
    from engine.policy_file import load_policy

    gateway = Gateway(
        MemoryLog(), MemoryAgentStore(), MemoryTokenStore(), load_policy(None), WallClock()
    )
    # the stream routes, as `dispatch run gateway` serves them
    gateway.extras["routers"] = [streams_router(StreamHub())]
    doc: dict[str, Any] = create_app(gateway).openapi()
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def docs_file() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.gateway.openapi_dump",
        description="Write the HTTP gateway's OpenAPI document to docs/openapi.json.",
        epilog=f"exit codes: {RET_OK} up to date or written, {RET_INVALID} out of date (--check)",
    )
    parser.add_argument("--check", action="store_true", help="only report, write nothing")
    parser.add_argument("--out", type=Path, default=None, help="file (docs/openapi.json)")
    args = parser.parse_args(argv)
    path: Path = args.out or docs_file()
    fresh = render(document())
    current = path.read_text("utf-8") if path.exists() else None
    if current == fresh:
        return RET_OK
    if args.check:
        print(f"out of date: {path} (run python -m engine.gateway.openapi_dump)")
        return RET_INVALID
    path.write_text(fresh, "utf-8")
    print(f"wrote {path}")
    return RET_OK


if __name__ == "__main__":
    sys.exit(main())
