"""MemoryLog.tail: KafkaTail's contract on the in-memory log."""

from __future__ import annotations

import pytest

from engine.adapters.memory import MemoryLog

pytestmark = pytest.mark.unit


def test_a_tail_reads_every_partition_without_a_group() -> None:
    log = MemoryLog(default_partitions=2)
    for i in range(4):
        log.send("a", f"k{i}".encode(), f"v{i}".encode())
    tail = log.tail(["a", "b"])
    assert tail.start() == {("a", 0): 0, ("a", 1): 0, ("b", 0): 0, ("b", 1): 0}
    assert not tail.caught_up()
    got = tail.poll(10, 0)
    assert sorted(r.value for r in got) == [b"v0", b"v1", b"v2", b"v3"]
    assert tail.caught_up() and tail.poll(10, 1) == []
    log.send("b", b"k", b"later")
    assert [r.value for r in tail.poll(10, 0)] == [b"later"]
    # a group's commits do not move a tail, and a tail commits nothing
    member = log.consumer(["a"], "g")
    assert len(member.poll(10, 0)) == 4


def test_a_tail_from_the_end_reads_only_what_comes() -> None:
    log = MemoryLog(default_partitions=1)
    log.send("a", b"k", b"old")
    tail = log.tail(["a"], from_end=True)
    assert tail.start() == {("a", 0): 1}
    assert tail.caught_up() and tail.poll(10, 0) == []
    log.send("a", b"k", b"new")
    assert [r.value for r in tail.poll(10, 0)] == [b"new"]
    tail.close()
