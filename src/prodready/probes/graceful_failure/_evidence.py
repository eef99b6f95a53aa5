"""Evidence of the graceful-failure probe: the tables a finding shows.

Every case of the battery with its input, outcome and the system's own error text; the
current window against the reference schema, per feature; the current rows the model could
not score.
"""

from __future__ import annotations

from typing import Any

from prodready.probes.graceful_failure._classify import Result
from prodready.probes.graceful_failure._data import CurrentData, pct
from prodready.results import Table

__all__ = ["cases_table", "current_table", "failures_table"]

_EXPECTED = {"nonsense": "nonsense", "valid": "valid edge case", "either": "either"}


def cases_table(results: list[Result], reached: str, left_out: list[str]) -> Table:
    """Every case: what was sent, what a correct system does, and what this one did."""
    rows: list[list[Any]] = [
        [
            r.case.name,
            r.case.input,
            _EXPECTED[r.case.expect],
            r.outcome,
            r.note,
            r.status,
            r.error,
        ]
        for r in results
    ]
    note = (
        f"Sent to {reached}. Nonsense must be refused with a clear error or answered with a "
        "declared safe default; valid edge cases must be answered; either: answering or "
        "refusing is fine. A crash is wrong for every case."
    )
    if left_out:
        note += " Not tried: " + "; ".join(left_out) + "."
    return Table(
        title=f"Unexpected inputs sent to the system ({len(results)} cases)",
        columns=[
            "case",
            "input",
            "expected",
            "outcome",
            "why",
            "HTTP status",
            "the system's error text",
        ],
        rows=rows,
        note=note,
    )


def current_table(data: CurrentData) -> Table:
    """Per feature: missing values in both windows and the current rows breaking the schema."""
    rows: list[list[Any]] = [
        [
            c.name,
            c.kind,
            round(c.missing_reference, 6),
            round(c.missing_current, 6),
            round(c.unseen, 6),
            ", ".join(f"{v[:40]!r} ({n:,})" for v, n in c.unseen_examples),
            round(c.out_of_range, 6),
            round(c.wrong_type, 6),
        ]
        for c in data.columns
    ]
    return Table(
        title="Unexpected data in the current window, per feature",
        columns=[
            "feature",
            "kind",
            "missing (reference)",
            "missing (current)",
            "unseen categories",
            "most frequent unseen",
            "outside accepted range",
            "wrong type or infinite",
        ],
        rows=rows,
        note=f"Shares of the {data.rows:,} current rows, against the input schema learned "
        "from the reference (prodready.guard.InputSchema): what a guard would refuse. "
        f"{data.unexpected_rows:,} current rows ({pct(data.share(data.unexpected_rows))}) "
        "break at least one rule.",
    )


def failures_table(data: CurrentData) -> Table:
    """Current rows the model could not score, and those the system refused, by cause."""
    rows = [
        [f.cause or "(not identified)", f.rows, f.example + 1, f.error]
        for f in sorted(data.crashes, key=lambda f: -f.rows)
    ] + [
        ["refused by the system (its guard)", f.rows, f.example + 1, f.error]
        for f in sorted(data.refusals, key=lambda f: -f.rows)
    ]
    return Table(
        title="Current rows the model could not score",
        columns=["cause", "rows", "example row (1 = first)", "what the system raised"],
        rows=rows,
        note="Scored with the system's model in-process; rows refused by a guard with its own "
        "error are refusals, not failures."
        + ("" if data.scoring.exact else " Counts are upper bounds: not every row was located."),
    )
