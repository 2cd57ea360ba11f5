"""Migration scripts, one revision each (Alembic ignores this file)."""
