"""``KafkaGroupConsumer``: the :class:`engine.ports.Consumer` port on a kafka-python consumer.

Contract:
- ``commit()`` synchronously commits, per partition, the offset after the last record that
  ``poll`` returned; nothing is auto-committed and no record ``poll`` has not returned is
  ever committed. ``close()`` commits nothing: records returned but not committed are
  redelivered to the partition's next owner.
- Cooperative-sticky rebalancing (KIP-429): a rebalance only pauses the partitions that
  move. Rebalances happen inside ``poll`` (and ``close``); with a poll → process → commit
  loop every record an earlier ``poll`` returned is processed by then. On revoke the
  adapter calls ``on_revoke(partitions)``, then commits the revoked partitions' positions
  and forgets them. On a lost membership (session expired, fenced) it calls ``on_lost``
  and forgets the positions without committing (the new owner already has them).
- Callbacks run on kafka-python's IO thread while the polling thread waits inside
  ``poll``: they must return quickly and must not call this consumer.
- Connects lazily on the first ``poll``/``lag``; errors are ``LogUnavailable`` or
  ``LogError`` (see ``errors``). Not thread-safe: one polling thread per member, and
  two members of one group must not share a thread (see ``_finish_rebalance``).
- ``instance_id`` enables static membership: a restart within ``session_timeout_ms``
  keeps the assignment, but a stopped static member never leaves the group, so its
  partitions wait for the session time-out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from kafka import (
    AsyncConsumerRebalanceListener,
    KafkaConsumer,
    OffsetAndMetadata,
    TopicPartition,
)
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.errors import RebalanceInProgressError
from kafka.structs import MemberState

from engine.adapters.kafka.errors import translate, translated
from engine.adapters.kafka.options import build, client_options
from engine.config import KafkaSettings
from engine.errors import CommitFailed, LogError
from engine.logs import get_logger
from engine.ports import Record

__all__ = ["CONSUMER_DEFAULTS", "KafkaGroupConsumer", "Partitions"]

log = get_logger(__name__)

Partitions = list[tuple[str, int]]
PartitionCallback = Callable[[Partitions], None]

CLOSE_TIMEOUT_MS = 10_000
REBALANCE_STEP_MS = 200
METADATA_WAIT_S = 10.0  # before the first join: see KafkaGroupConsumer._await_metadata
OFFSETS_TIMEOUT_MS = 10_000

CONSUMER_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "allow_auto_create_topics": False,
        "session_timeout_ms": 10_000,  # a crashed replica's partitions move within 10 s
        "heartbeat_interval_ms": 3_000,
        "max_poll_interval_ms": 120_000,
        # A member that joined before a topic's partitions were in its metadata is assigned
        # nothing for that topic until the next refresh (kafka-python default: 5 min).
        "metadata_max_age_ms": 5_000,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
        "receive_buffer_bytes": 1024 * 1024,
    }
)


def _pairs(partitions: Any) -> Partitions:
    return sorted((tp.topic, tp.partition) for tp in partitions)


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on the IO loop, so it awaits commits instead of blocking on them."""

    def __init__(self, owner: KafkaGroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner._revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._owner._assigned(assigned)

    async def on_partitions_lost(self, lost: Any) -> None:
        self._owner._lost(lost)


class KafkaGroupConsumer:
    """One member of ``group_id`` reading ``topics``; ``overrides`` are KafkaConsumer options."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        group_id: str,
        *,
        on_revoke: PartitionCallback | None = None,
        on_assign: PartitionCallback | None = None,
        on_lost: PartitionCallback | None = None,
        instance_id: str | None = None,
        max_poll_records: int = 500,
        **overrides: Any,
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        self.topics = list(topics)
        self.group_id = group_id
        self._on_revoke, self._on_assign, self._on_lost = on_revoke, on_assign, on_lost
        self._config: dict[str, Any] = {
            **client_options(settings, "consumer"),
            **CONSUMER_DEFAULTS,
            "group_id": group_id,
            "group_instance_id": instance_id,
            "max_poll_records": max_poll_records,
            "partition_assignment_strategy": [CooperativeStickyAssignor()],
            **overrides,
        }
        self._consumer: Any = None  # kafka.KafkaConsumer, created on first use
        self._pending: dict[Any, OffsetAndMetadata] = {}  # returned by poll, not committed
        self._committed: dict[Any, int] = {}  # last committed offset we know of
        self._closing = False
        self._closed = False
        self.commits_rejected = 0  # commits refused because the group moved on

    def _client(self) -> Any:
        if self._consumer is None:
            if self._closed:
                raise LogError("consumer is closed")
            consumer = build(KafkaConsumer, self._config, f"connect group {self.group_id}")
            self._await_metadata(consumer)
            consumer.subscribe(self.topics, listener=_Listener(self))
            self._consumer = consumer
            log.info("kafka consumer of group %s subscribed to %s", self.group_id, self.topics)
        return self._consumer

    def _await_metadata(self, consumer: Any) -> None:
        """Wait (bounded) until the client's metadata knows every subscribed topic.

        A member that joins while its metadata lacks a topic (just created, not yet
        propagated) gets "No partition metadata" from the assignor; with kafka-python
        3.0.12 such a member can then sit in the rebalance for up to the poll interval
        instead of rejoining at the next metadata refresh. Knowing the topics before the
        first JoinGroup avoids that. A topic still unknown after ``METADATA_WAIT_S`` is
        left to the refresh (``metadata_max_age_ms``), as before.
        """
        deadline = time.monotonic() + METADATA_WAIT_S
        missing = list(self.topics)
        while missing and time.monotonic() < deadline:
            with translated(f"metadata for group {self.group_id}"):
                missing = [t for t in missing if not consumer.partitions_for_topic(t)]
            if missing:
                time.sleep(0.1)
        if missing:
            log.warning("group %s: no metadata yet for %s; joining anyway", self.group_id, missing)

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        """Records of the assigned partitions, in offset order per partition."""
        consumer = self._client()
        with translated(f"poll group {self.group_id}"):
            batches = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
            if not batches and consumer.group_metadata().state == MemberState.REBALANCING:
                batches = self._finish_rebalance(consumer, max_records)
        records: list[Record] = []
        for tp, batch in batches.items():
            last = batch[-1]
            self._pending[tp] = OffsetAndMetadata(last.offset + 1, "", last.leader_epoch)
            records.extend(
                Record(
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key,
                    value=b"" if r.value is None else r.value,  # tombstones read as b""
                    headers=tuple(r.headers) if r.headers else (),
                )
                for r in batch
            )
        return records

    def _finish_rebalance(self, consumer: Any, max_records: int) -> Any:
        """Keep polling until a started JoinGroup/SyncGroup round is applied.

        kafka-python 3.0.12 only applies a join result that a ``poll`` is awaiting: one
        that completes between polls is dropped and the member joins again, starting a
        new rebalance for the whole group; members that poll with short time-outs or
        process batches between polls can rebalance forever. So ``poll`` does not return
        mid-rebalance (at most the broker's rebalance time-out, ``max_poll_interval_ms``).
        """
        deadline = time.monotonic() + self._config["max_poll_interval_ms"] / 1000
        batches: Any = {}
        while not batches and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=REBALANCE_STEP_MS, max_records=max_records)
            if consumer.group_metadata().state != MemberState.REBALANCING:
                break
        return batches

    def commit(self) -> None:
        """Commit the positions after every record ``poll`` returned (blocking).

        While a cooperative rebalance is in progress the broker refuses commits: the
        positions stay pending (see ``uncommitted``) and go with the next ``commit``, or
        with the revoke if their partitions move. If this member was evicted (session or
        poll interval expired, fenced), the positions are dropped with a warning: the
        partitions already belong to another member, which gets those records again, and
        the next ``poll`` rejoins. Raising instead would leave a caller that retries its
        batch until the commit succeeds stuck forever. Other errors raise.
        """
        if not self._pending or self._consumer is None:
            return
        offsets = dict(self._pending)
        try:
            self._consumer.commit(offsets=offsets)
        except RebalanceInProgressError:
            log.info("group %s: rebalancing, commit deferred to the next one", self.group_id)
            return
        except Exception as exc:
            error = translate(exc, f"commit group {self.group_id}")
            if not isinstance(error, CommitFailed):
                raise error from exc
            log.warning("%s; %d partition(s) will be redelivered", error, len(offsets))
            self.commits_rejected += 1
            self._pending.clear()
            return
        self._forget_committed(offsets)

    @property
    def uncommitted(self) -> int:
        """Partitions with records returned by ``poll`` whose positions are not committed."""
        return len(self._pending)

    def _forget_committed(self, offsets: Mapping[Any, OffsetAndMetadata]) -> None:
        for tp, meta in offsets.items():
            self._committed[tp] = meta.offset
            if self._pending.get(tp) == meta:
                del self._pending[tp]

    async def _revoked(self, revoked: Any) -> None:
        partitions = _pairs(revoked)
        if self._closing:
            log.info("group %s: closing, leaving %s", self.group_id, partitions)
            self._forget(revoked)
            return
        log.info("group %s: partitions revoked %s", self.group_id, partitions)
        try:
            if self._on_revoke is not None:
                self._on_revoke(partitions)
            offsets = {tp: self._pending[tp] for tp in revoked if tp in self._pending}
            if offsets:
                try:
                    await self._consumer.commit_async(offsets=offsets)
                except Exception as exc:  # the records are redelivered: processing is idempotent
                    log.warning("group %s: commit on revoke failed: %s", self.group_id, exc)
        finally:
            self._forget(revoked)

    def _assigned(self, assigned: Any) -> None:
        partitions = _pairs(assigned)
        log.info("group %s: partitions assigned %s", self.group_id, partitions)
        if self._on_assign is not None:
            self._on_assign(partitions)

    def _lost(self, lost: Any) -> None:
        partitions = _pairs(lost)
        log.warning("group %s: partitions lost %s (not committing)", self.group_id, partitions)
        self._forget(lost)
        if self._on_lost is not None:
            self._on_lost(partitions)

    def _forget(self, partitions: Any) -> None:
        for tp in partitions:
            self._pending.pop(tp, None)
            self._committed.pop(tp, None)

    def owns(self, topic: str, partition: int) -> bool:
        """Whether the partition is assigned to this member and the member is still in its
        group (a member evicted while it was stopped loses its generation at the first
        heartbeat after it resumes, before its next ``poll`` learns of the revocation)."""
        consumer = self._consumer
        if consumer is None:
            return False
        if consumer.group_metadata().state == MemberState.UNJOINED:
            return False
        return TopicPartition(topic, partition) in consumer.assignment()

    @property
    def generation(self) -> int:
        """The group generation this member last joined (-1 before): for logs and tests."""
        if self._consumer is None:
            return -1
        generation: int = self._consumer.group_metadata().generation_id
        return generation

    def assignment(self) -> Partitions:
        """Partitions currently assigned to this member (empty before the first poll)."""
        return [] if self._consumer is None else _pairs(self._consumer.assignment())

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: end offset − committed offset (≥ 0).

        Partitions never committed count from the log start. One ListOffsets round trip
        (plus an OffsetFetch for partitions whose committed offset is not known yet):
        call it from the polling thread every few seconds, not per batch.
        """
        consumer = self._client()
        assigned = list(consumer.assignment())
        if not assigned:
            return {}
        with translated(f"lag of group {self.group_id}"):
            ends = consumer.end_offsets(assigned, timeout_ms=OFFSETS_TIMEOUT_MS)
            unknown = [tp for tp in assigned if tp not in self._committed]
            if unknown:
                starts = consumer.beginning_offsets(unknown, timeout_ms=OFFSETS_TIMEOUT_MS)
                for tp in unknown:
                    committed = consumer.committed(tp, timeout_ms=OFFSETS_TIMEOUT_MS)
                    self._committed[tp] = starts[tp] if committed is None else committed
        return {(tp.topic, tp.partition): max(0, ends[tp] - self._committed[tp]) for tp in assigned}

    def partitions_for(self, topic: str) -> int:
        """How many partitions ``topic`` has (0 while the metadata does not know it)."""
        consumer = self._client()
        with translated(f"metadata of {topic}"):
            parts = consumer.partitions_for_topic(topic)
        return len(parts) if parts else 0

    def close(self) -> None:
        """Leave the group (partitions move at once) without committing. Idempotent."""
        if self._closed:
            return
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        self._closing = True
        try:
            consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except Exception as exc:
            log.warning("kafka consumer close failed: %s", translate(exc, "close"))
        self._pending.clear()
        log.info("kafka consumer of group %s closed", self.group_id)
