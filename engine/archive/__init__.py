"""The archive: the audit trail of every ticket in a SQL database (issue 13).

- ``schema`` — the tables (SQLAlchemy Core), documented in ``docs/archive.md``.
- ``db`` — engines from ``DISPATCH_ARCHIVE_URL`` (SQLite file in the state dir by default,
  PostgreSQL in production) and the packaged Alembic migrations (``dispatch db upgrade``).
- ``ingest`` — the pure mapping event → rows, and the idempotent writer.
- ``archiver`` — the consumer loop behind ``dispatch run archiver``.
"""
