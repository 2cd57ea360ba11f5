"""The `dispatch` command line: ``main`` builds the parser, one module per command group."""

from engine.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
