"""Portable SQL building blocks (SQLAlchemy Core): the same statement on SQLite and
PostgreSQL, parameters always bound.

No dialect function is used where the two differ: the larger of two values is a ``CASE``
(SQLite has ``max(a, b)``, PostgreSQL ``GREATEST``), a time bucket is integer division, a
percentile is a nearest-rank pick over ``row_number()`` (SQLite has no
``percentile_cont``), and a mean is an exact integer sum and count divided in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal


def later(a: ColumnElement[Any], b: ColumnElement[Any] | int) -> ColumnElement[Any]:
    """The larger of two values."""
    return case((a > b, a), else_=b)


def earlier(a: ColumnElement[Any], b: ColumnElement[Any] | int) -> ColumnElement[Any]:
    """The smaller of two values."""
    return case((a < b, a), else_=b)


def overlap_ms(
    start: ColumnElement[Any], end: ColumnElement[Any], from_ms: int, to_ms: int
) -> ColumnElement[Any]:
    """How much of ``[start, end)`` lies inside ``[from_ms, to_ms)`` (rows are selected to
    overlap it, so the result is never negative)."""
    return earlier(end, literal(to_ms)) - later(start, literal(from_ms))


def bucket(ts: ColumnElement[Any], size_ms: int | None) -> ColumnElement[Any]:
    """The start of the UTC hour/day ``ts`` falls in (``size_ms`` None: one bucket, 0)."""
    if size_ms is None:
        return literal(0)
    return (ts // size_ms) * size_ms


def ranked(
    keys: Sequence[ColumnElement[Any]], value: ColumnElement[Any]
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """``row_number()`` of ``value`` within ``keys`` (nulls ranked after every value: the
    two databases sort nulls differently, so the order says it) and the count of non-null
    values there: what :func:`nearest_rank` needs."""
    last = case((value.is_(None), 1), else_=0)
    rank = func.row_number().over(partition_by=list(keys), order_by=[last, value])
    counted = func.count(value).over(partition_by=list(keys))
    return rank, counted


def nearest_rank(
    value: ColumnElement[Any], rank: ColumnElement[Any], count: ColumnElement[Any], pct: int
) -> ColumnElement[Any]:
    """The ``pct``-th percentile by nearest rank, as an aggregate over ranked rows: the
    smallest value whose rank is at least ``pct`` % of the count (``rank * 100 >= pct *
    count``). Exact and integer-only: the same answer on every database."""
    return func.min(case((and_(value.is_not(None), rank * 100 >= count * pct), value)))


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def sum_if(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((condition, value), else_=0))


def between(ts: ColumnElement[Any], from_ms: int, to_ms: int) -> ColumnElement[bool]:
    """``from_ms <= ts < to_ms`` (a period includes its start, not its end)."""
    return and_(ts >= from_ms, ts < to_ms)
