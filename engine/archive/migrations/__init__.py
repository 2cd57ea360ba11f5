"""Alembic migrations of the archive database (``script_location = engine.archive:migrations``).

Run them with ``dispatch db upgrade`` or :func:`engine.archive.db.upgrade`; there is no
``alembic.ini``: the engine is handed to ``env.py`` in ``config.attributes["engine"]``.
"""
