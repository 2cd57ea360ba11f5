"""Shared by the test_codec_*.py files."""

from __future__ import annotations

from typing import Any

import msgpack

from tests.unit.event_examples import EXAMPLES

TYPES = sorted(EXAMPLES)


def packed(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)
