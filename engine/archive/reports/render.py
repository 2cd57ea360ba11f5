"""A report as an aligned text table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from engine.archive.reports.model import Report

FORMATS = ("table", "csv", "json")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def table(report: Report) -> str:
    header = list(report.columns)
    body = [[cell(r.get(c)) for c in header] for r in report.rows]
    widths = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    if not body:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(report.columns)
    for r in report.rows:
        writer.writerow([cell(r.get(c)) for c in report.columns])
    return buf.getvalue()


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(report)
    return table(report)
