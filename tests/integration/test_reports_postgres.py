"""The report tests of ``tests/unit/archive/test_reports.py`` on a real PostgreSQL (the
session's server, ``tests/services.py``; a fresh database per test): the same stream, the
same hand-computed figures, the same statements as on SQLite; and the roll-up tests of
``tests/unit/archive/test_report_rollups.py``: roll-ups never change a figure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from engine.archive.db import make_engine, upgrade
from tests.unit.archive.test_report_rollups import (  # noqa: F401  (collected here too)
    test_a_late_reopen_makes_the_hours_of_the_ticket_stale,
    test_a_report_on_a_connection_open_across_a_commit_stores_and_stays_right,
    test_a_warm_report_reads_its_hours_from_rollups,
    test_after_every_batch_in_any_order_rollups_equal_the_facts,
    test_hours_written_without_marks_are_computed_not_kept,
    test_one_agent_computes_its_own_hours_and_keeps_none,
)
from tests.unit.archive.test_reports import (  # noqa: F401  (collected here, on PostgreSQL)
    loaded,
    test_agent_figures_match_the_stream,
    test_an_empty_archive_reports_nothing,
    test_an_unknown_tenant_has_nothing,
    test_kpis_per_day_and_per_hour,
    test_one_agent_only,
    test_one_tenant_never_sees_another,
    test_queues_and_channels,
    test_trail_is_bounded_by_the_period,
    test_trail_of_a_transferred_reopened_ticket,
    test_trail_shows_rejections_timeouts_and_escalations,
    test_unknown_ticket,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def archive_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    assert engine.dialect.name == "postgresql"
    upgrade(engine)
    yield engine
    engine.dispose()
