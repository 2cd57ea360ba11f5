"""Compatibility entry point: ``python -m benchmarks.throughput_report`` re-renders
``benchmarks/RESULTS.md`` from ``benchmarks/results/throughput.json``. The code lives in
:mod:`benchmarks.bench_report`."""

from __future__ import annotations

from benchmarks.bench_report import main, write_report

__all__ = ["main", "write_report"]

if __name__ == "__main__":
    raise SystemExit(main())
