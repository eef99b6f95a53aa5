"""Reading a decision log (the format is in ``docs/decision-log.md``)."""

from __future__ import annotations

import json
import os
from typing import Any, Final

__all__ = ["LOG_FORMAT", "LOG_ID_FIELD", "read_decisions"]

#: The ``format`` field of every decision-log line this version writes.
LOG_FORMAT: Final = "prodready.decision/1"
#: The field of a decision-log line that holds the decision id (returned with the answer).
LOG_ID_FIELD: Final = "decision_id"


def read_decisions(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Every decision in a decision log, by decision id (the last line wins for a repeated id).

    Lines that are not JSON objects with a string ``decision_id`` are skipped: whether the
    file is intact is :func:`prodready._chain.verify`'s question, not this function's. A
    missing file has no decisions.
    """
    decisions: dict[str, dict[str, Any]] = {}
    try:
        stream = open(os.fspath(path), "rb")  # noqa: SIM115 -- closed by the with below
    except FileNotFoundError:
        return decisions
    with stream:
        for raw in stream:
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get(LOG_ID_FIELD), str):
                decisions[record[LOG_ID_FIELD]] = record
    return decisions
