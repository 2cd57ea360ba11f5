"""One logger namespace for the whole engine: ``dispatch``.

Every module logs through ``get_logger(__name__)``: ``engine.dispatch.pipeline`` logs as
``dispatch.dispatch.pipeline``, ``consumers.dispatcher`` as ``dispatch.consumers.dispatcher``,
so one setting (``logging.getLogger("dispatch")``) controls everything the engine says and
third-party libraries (kafka-python, redis-py) keep their own level. Only the command line
configures logging (:func:`configure`); the library never does.
"""

from __future__ import annotations

import logging
import sys

ROOT = "dispatch"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def get_logger(module: str) -> logging.Logger:
    """The logger of ``module`` (pass ``__name__``) under the ``dispatch`` namespace."""
    return logging.getLogger(f"{ROOT}.{module.removeprefix('engine.')}")


def configure(level: int | str, *, libraries: int = logging.WARNING) -> None:
    """Log to stderr: the engine at ``level``, third-party libraries at ``libraries``."""
    logging.basicConfig(level=libraries, format=FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(libraries)
    logging.getLogger(ROOT).setLevel(level)
