"""A consumer-group member resumes within seconds when its broker comes back.

The broker is this module's own (not the session's, which other tests share): started with
``engine.devstack``, restarted on its data (SIGTERM, start again on the same ports) while a
member keeps polling as a dispatcher's loop would. The client settings that make the resume
quick are ``engine.adapters.kafka.options.RECONNECT_OPTIONS`` (docs/configuration.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer, TopicSpec, create_topics
from engine.config import KafkaSettings, Settings
from engine.devstack import DevStack
from engine.errors import DevstackError, LogError, Unavailable
from engine.ports import Record
from tests.services import kafka_cache_root, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

log = logging.getLogger(__name__)

# From the broker being ready again to the new records consumed: about 1 s with the engine's
# settings, 13-14 s with kafka-python's default back-off (measured on a 2-core machine).
RESUME_WITHIN_S = 10.0
# How long the broker stays down: a production restart (drain, JVM start, log recovery) takes
# this long or longer. kafka-python's default back-off (doubling up to 30 s) would then wait
# up to ~25 s more before it tried again; the engine's settings try at least every second.
DOWN_S = 12.0
WAIT_S = 60.0
PARTITIONS = 3
ERROR_PAUSE_S = 0.2


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """A single-node Kafka of this module only: restarting it disturbs no other test."""
    stack = DevStack(
        tmp_path_factory.mktemp("reconnect"),
        kafka=True,
        redis=False,
        cache_root=kafka_cache_root(),
        quick_start=True,
    )
    try:
        stack.start()
    except DevstackError as exc:
        unavailable(f"no local Kafka for the reconnect test: {exc}")
    yield stack
    stack.stop()


class Poller(threading.Thread):
    """A member's poll → commit loop, as a dispatcher runs it; outage errors are logged and
    retried after a short pause, like ``consumers.loop`` does."""

    def __init__(self, consumer: KafkaGroupConsumer) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.received: list[tuple[float, Record]] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                batch = self.consumer.poll(100, 100)
                now = time.monotonic()
                self.received.extend((now, r) for r in batch)
                self.consumer.commit()
            except (Unavailable, LogError) as exc:
                self.errors.append(str(exc))
                self._halt.wait(ERROR_PAUSE_S)

    def values(self) -> set[bytes]:
        return {r.value for _, r in list(self.received)}

    def wait_for(self, wanted: set[bytes], timeout_s: float) -> float | None:
        """Monotonic time at which the last of ``wanted`` arrived, None on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = {r.value: t for t, r in list(self.received)}
            if wanted <= got.keys():
                return max(got[v] for v in wanted)
            time.sleep(0.05)
        return None

    def finish(self) -> None:
        self._halt.set()
        self.join(WAIT_S)


def produce(log_: KafkaEventLog, topic: str, values: list[bytes]) -> None:
    for i, value in enumerate(values):
        log_.send(topic, f"k{i}".encode(), value)
    log_.flush()


def test_a_member_resumes_within_seconds_after_its_broker_restarts(
    own_broker: DevStack, unique_name: Callable[[str], str]
) -> None:
    # Given a member of a group reading a topic of the module's own broker
    bootstrap = own_broker.endpoints.kafka_bootstrap
    assert bootstrap is not None
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=(bootstrap,)))
    topic, group = unique_name("reconnect"), unique_name("g")
    create_topics(settings, [TopicSpec(topic, PARTITIONS)])
    producer = KafkaEventLog(settings.kafka)
    member = Poller(KafkaGroupConsumer(settings.kafka, [topic], group))
    member.start()
    try:
        before = [f"before-{i}".encode() for i in range(20)]
        produce(producer, topic, before)
        assert member.wait_for(set(before), WAIT_S) is not None, "no records before the restart"

        # When the broker restarts on its data (SIGTERM, down a while, the same ports) ...
        restart_began = time.monotonic()
        assert own_broker.stop("kafka") == ["kafka"]
        time.sleep(DOWN_S)
        own_broker.start("kafka")
        back = time.monotonic()
        # ... and records are produced once it is back
        after = [f"after-{i}".encode() for i in range(20)]
        produce(producer, topic, after)
        produced = time.monotonic()
        arrived = member.wait_for(set(after), WAIT_S)
    finally:
        member.finish()
        member.consumer.close()
        producer.close()

    # Then the member has them within seconds of the broker's return
    assert arrived is not None, f"records after the restart never arrived: {member.errors[-3:]}"
    log.warning(
        "broker down+restart %.1f s; produce after return %.1f s; resumed %.1f s after the "
        "broker was back (%d outage errors)",
        back - restart_began,
        produced - back,
        arrived - back,
        len(member.errors),
    )
    assert arrived - back < RESUME_WITHIN_S, f"resumed {arrived - back:.1f} s after the return"
    assert set(before) | set(after) <= member.values()
