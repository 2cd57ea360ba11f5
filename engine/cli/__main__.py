"""``python -m engine.cli``: the `dispatch` command without the console script."""

from engine.cli.main import main

raise SystemExit(main())
