"""Q5's traceable half: every decision has an id, and the system's decision log accounts for it.

The probe sends a sample of decisions through the system the way production does (its
served endpoint, or the model in-process; see :func:`prodready.adapters.connect`), then
reads the decision log the spec names (``decision_log``) and checks, for each decision:

- the system's answer carries a decision id, and that id is in the log;
- the logged model digest is the digest of the model being assessed (``model.path``);
- the logged input digest is the digest of what was sent (:func:`prodready.guard.input_digest`);
- the logged output is the output the system answered;
- replaying a sample of the sent inputs gives the logged outputs again (the log can be used to
  re-derive a decision);
- the log's hash chain is intact (:func:`prodready._chain.verify`): no line edited, removed,
  inserted or reordered.

A system whose answers carry no decision id, or whose spec names no decision log, cannot trace
its decisions: FAIL, with the remediation (put the model behind :class:`prodready.guard.Guard`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodready.adapters import Client, Reply, connect
from prodready.probes._base import ProbeContext
from prodready.results import Check, Evidence, Status, Table
from prodready.system import System, quote_path

__all__ = ["Trace", "trace"]

#: Decisions sent one at a time before the rest go in batches: both paths must be traced.
_SINGLE_ROWS = 5
#: Rows per request after the single ones.
_BATCH_ROWS = 10
#: Decisions and problems shown in the evidence tables.
_SHOWN = 20

_REMEDIATION = (
    "Put the model behind prodready.guard.Guard (in-process, or served with "
    "prodready.guard.save_mlflow): it gives every decision an id, answers it with the "
    "decision, and appends a hash-chained log line with the model's version and digest, a "
    "digest of the input and the output (docs/decision-log.md); name that log under "
    "decision_log in the spec."
)


@dataclass
class Trace:
    """The traceable half of Q5, judged: checks, evidence and a sentence for the summary.

    ``not_assessed`` names parts that could not be judged (a spec field missing); the
    assessment then caps a PASS to WARN.
    """

    checks: list[Check] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)
    sentence: str = ""
    remediation: str = ""
    not_assessed: list[str] = field(default_factory=list)


@dataclass
class _Sent:
    """One decision the probe sent: its row (as sent), and what the system answered."""

    position: int  # row position in the sampled data
    row: dict[str, Any]
    decision_id: str | None
    output: Any


def trace(
    system: System, sample: int, replay: int, tolerance: float, context: ProbeContext
) -> Trace:
    """Send ``sample`` decisions through the system and check the decision log accounts for them.

    ``replay`` of them are sent again and must give the logged outputs within ``tolerance``
    (absolute, per output value).
    """
    which = "current" if system.current is not None else "reference"
    data = system.X(which)  # type: ignore[arg-type]
    rng = np.random.default_rng(context.seed + 5)  # not the explained sample: independent
    n = min(sample, len(data))
    picked = data.iloc[np.sort(rng.choice(len(data), size=n, replace=False))]
    result = Trace()
    context.report("sending decisions to trace", 0.8)
    with connect(system) as client:
        sent, refused = _send(client, picked, context)
        result.measurements["trace_endpoint"] = client.describe()
        result.measurements["decisions_sent"] = n
        result.measurements["decisions_answered"] = len(sent)
        if not sent:
            result.checks.append(
                Check(
                    name="decisions answered",
                    status=Status.FAIL,
                    measured=0,
                    threshold=f"the {n} sampled {which} decisions answered",
                    message=f"The system answered none of the {n} sampled {which} decisions "
                    f"sent to it ({_refusals(refused)}): nothing could be traced.",
                )
            )
            result.sentence = "no decision could be traced: the system answered none"
            result.remediation = "Make the system answer ordinary decisions first. " + _REMEDIATION
            return result
        _judge(system, sent, refused, client, replay, tolerance, context, result)
    return result


def _send(
    client: Client, picked: pd.DataFrame, context: ProbeContext
) -> tuple[list[_Sent], list[Reply]]:
    """Send the rows one at a time, then in batches; keep the answered ones."""
    sent: list[_Sent] = []
    refused: list[Reply] = []
    for start, stop in _chunks(len(picked)):
        context.check_deadline()
        frame = picked.iloc[start:stop]
        reply = client.predict(frame)
        if not reply.answered or reply.outputs is None:
            refused.append(reply)
            continue
        ids = reply.decision_ids or (None,) * len(frame)
        for i in range(len(frame)):
            sent.append(
                _Sent(
                    position=start + i,
                    row={str(k): v for k, v in frame.iloc[i].items()},
                    decision_id=ids[i] if i < len(ids) else None,
                    output=reply.outputs[i],
                )
            )
    return sent, refused


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    singles = min(_SINGLE_ROWS, n)
    for i in range(singles):
        yield i, i + 1
    for start in range(singles, n, _BATCH_ROWS):
        yield start, min(n, start + _BATCH_ROWS)


def _refusals(refused: list[Reply]) -> str:
    if not refused:
        return "no answer"
    kinds: dict[str, int] = {}
    for reply in refused:
        kinds[reply.kind] = kinds.get(reply.kind, 0) + 1
    text = ", ".join(f"{k}: {v} request{'s' if v != 1 else ''}" for k, v in kinds.items())
    first = next((r.error for r in refused if r.error), "")
    return text + (f"; first error: {first[:160]}" if first else "")


def _judge(
    system: System,
    sent: list[_Sent],
    refused: list[Reply],
    client: Client,
    replay: int,
    tolerance: float,
    context: ProbeContext,
    result: Trace,
) -> None:
    from prodready._chain import verify
    from prodready.guard import input_digest

    n = len(sent)
    with_id = [s for s in sent if s.decision_id]
    result.measurements["decisions_with_id"] = len(with_id)
    id_check = Check(
        name="decision ids",
        status=Status.PASS if len(with_id) == n else Status.FAIL,
        measured=len(with_id),
        threshold=f"every answered decision ({n}) carries an id",
        message=(
            f"Every one of the {n} decisions answered carries a decision id."
            if len(with_id) == n
            else f"{n - len(with_id)} of the {n} decisions answered carry no decision id: "
            "they cannot be looked up in any log."
        ),
    )
    result.checks.append(id_check)
    if refused:
        result.measurements["requests_refused"] = len(refused)

    log_path = system.decision_log
    if log_path is None:
        if not with_id:
            result.checks.append(
                Check(
                    name="decision log",
                    status=Status.FAIL,
                    measured="none",
                    threshold="a decision log (decision_log in the spec)",
                    message="The system keeps no decision log that the spec names "
                    "(decision_log), and its answers carry no decision id: its decisions "
                    "cannot be traced.",
                )
            )
            result.sentence = "decisions are not traceable: no decision id and no decision log"
            result.remediation = _REMEDIATION
        else:
            result.not_assessed.append(
                "traceability: the decision log (set decision_log in the spec to where the "
                "system writes it)"
            )
            result.sentence = "decisions carry ids, but the spec names no decision log to check"
        return

    context.report("checking the decision log", 0.9)
    if not log_path.is_file():
        result.checks.append(
            Check(
                name="decision log",
                status=Status.FAIL,
                measured="missing",
                threshold="the log named by decision_log exists",
                message=f"The decision log {quote_path(log_path)} does not exist after "
                f"{n} decisions were answered.",
            )
        )
        result.sentence = "the decision log named in the spec does not exist"
        result.remediation = _REMEDIATION
        return

    chain = verify(log_path)
    result.measurements["log_lines"] = chain.lines
    result.measurements["log_problems"] = len(chain.problems)
    problems = [f"line {p.line}: {p.message}" for p in chain.problems]
    result.checks.append(
        Check(
            name="log intact",
            status=Status.PASS if not problems else Status.FAIL,
            measured=len(problems),
            threshold="an unbroken hash chain: no line edited, removed, inserted or reordered",
            message=(
                f"The log's hash chain is intact over its {chain.lines:,} lines."
                if not problems
                else f"The log's hash chain is broken: {'; '.join(problems[:3])}"
                + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
                + "."
            ),
        )
    )
    if problems:
        result.evidence.append(
            Table(
                title="Decision log: where the hash chain breaks",
                columns=["line", "problem"],
                rows=[[p.line, p.message] for p in chain.problems[:_SHOWN]],
                note=f"{len(problems)} problem(s) in {quote_path(log_path)}.",
            )
        )

    records = _records(log_path, {s.decision_id for s in with_id if s.decision_id})
    expected_model = system.model_artifact.sha256 if system.model_artifact else ""
    rows: list[list[Any]] = []
    missing = model_bad = input_bad = output_bad = 0
    for s in with_id:
        line, record = records.get(str(s.decision_id), (None, None))
        if record is None:
            missing += 1
            rows.append([s.decision_id, "not in the log", "", "", ""])
            continue
        model_ok = not expected_model or record.get("model_sha256") == expected_model
        input_ok = record.get("input_sha256") == input_digest(s.row)
        output_ok = _close(record.get("output"), s.output, tolerance)
        model_bad += not model_ok
        input_bad += not input_ok
        output_bad += not output_ok
        rows.append(
            [
                s.decision_id,
                f"line {line}",
                _yes(model_ok),
                _yes(input_ok),
                _yes(output_ok),
            ]
        )

    m = len(with_id)
    found = m - missing
    result.checks.append(
        Check(
            name="every decision logged",
            status=Status.PASS if missing == 0 and m else Status.FAIL,
            measured=found,
            threshold=f"all {m} decision ids in the log",
            message=(
                f"All {m} decision ids are in the log."
                if missing == 0
                else f"{missing} of {m} decision ids are not in the log {quote_path(log_path)}."
            ),
        )
    )
    if expected_model:
        result.checks.append(
            Check(
                name="logged model is the assessed model",
                status=Status.PASS if model_bad == 0 else Status.FAIL,
                measured=model_bad,
                threshold=f"model digest {expected_model[:12]}… on every logged decision",
                message=(
                    f"Every logged decision names the assessed model (sha256 "
                    f"{expected_model[:12]}…)."
                    if model_bad == 0
                    else f"{model_bad} of {found} logged decisions name another model digest "
                    f"than the assessed model's ({expected_model[:12]}…)."
                ),
            )
        )
    else:
        result.not_assessed.append(
            "traceability: the logged model digest (the model was given in Python, so "
            "prodready has no artifact digest to compare; load it from model.path)"
        )
    result.checks.append(
        Check(
            name="logged input is what was sent",
            status=Status.PASS if input_bad == 0 else Status.FAIL,
            measured=input_bad,
            threshold="the logged input digest of every decision equals the digest of its input",
            message=(
                "Every logged input digest matches the input sent."
                if input_bad == 0
                else f"{input_bad} of {found} logged input digests do not match the input "
                "that was sent."
            ),
        )
    )
    result.checks.append(
        Check(
            name="logged output is the answer",
            status=Status.PASS if output_bad == 0 else Status.FAIL,
            measured=output_bad,
            threshold=f"the logged output equals the answer (within {tolerance:g})",
            message=(
                "Every logged output is the answer the system gave."
                if output_bad == 0
                else f"{output_bad} of {found} logged outputs differ from the answer given."
            ),
        )
    )

    replayed = _replay(client, with_id, records, replay, tolerance, context)
    if replayed is not None:
        done, differing = replayed
        result.measurements["replayed"] = done
        result.checks.append(
            Check(
                name="replay gives the logged output",
                status=Status.PASS if differing == 0 and done else Status.FAIL,
                measured=differing,
                threshold=f"{done} logged decisions replayed give their logged output",
                message=(
                    f"Replaying {done} logged inputs gives the logged outputs."
                    if differing == 0 and done
                    else f"Replaying {done} logged inputs: {differing} give another output "
                    "than the one logged."
                ),
            )
        )

    result.evidence.append(
        Table(
            title="Decisions traced in the decision log",
            columns=["decision id", "where in the log", "model digest", "input digest", "output"],
            rows=_shown(rows),
            note=f"{m} decisions sent through {client.describe()}, looked up in "
            f"{quote_path(log_path)}"
            + (f"; the first {_SHOWN} and every problem shown." if len(rows) > _SHOWN else "."),
        )
    )
    traced = all(c.status is Status.PASS for c in result.checks)
    result.sentence = (
        f"every decision is traceable: {m} decisions found in an intact, hash-chained log "
        "with the assessed model's digest, their input digests and outputs"
        if traced
        else "decisions are NOT fully traceable: "
        + "; ".join(
            _lower_first(c.message.rstrip(".")) for c in result.checks if c.status is Status.FAIL
        )
    )
    if not traced:
        result.remediation = _REMEDIATION


def _records(path: Path, wanted: set[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """The log's records whose id is in ``wanted``, with their 1-based line numbers."""
    from prodready.guard import LOG_ID_FIELD

    found: dict[str, tuple[int, dict[str, Any]]] = {}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the chain check reports it
            if isinstance(record, dict):
                key = str(record.get(LOG_ID_FIELD))
                if key in wanted:
                    found[key] = (number, record)
    return found


def _replay(
    client: Client,
    with_id: list[_Sent],
    records: Mapping[str, tuple[int, dict[str, Any]]],
    replay: int,
    tolerance: float,
    context: ProbeContext,
) -> tuple[int, int] | None:
    """Send up to ``replay`` logged inputs again; (replayed, giving another output)."""
    logged = [s for s in with_id if str(s.decision_id) in records][:replay]
    if not logged:
        return None
    context.check_deadline()
    frame = pd.DataFrame([s.row for s in logged])
    reply = client.predict(frame)
    if not reply.answered or reply.outputs is None:
        return len(logged), len(logged)
    differing = sum(
        not _close(records[str(s.decision_id)][1].get("output"), reply.outputs[i], tolerance)
        for i, s in enumerate(logged)
    )
    return len(logged), differing


def _close(logged: Any, answered: Any, tolerance: float) -> bool:
    try:
        a = np.asarray(logged, dtype=float)
        b = np.asarray(answered, dtype=float)
    except (TypeError, ValueError):
        return bool(logged == answered)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tolerance))


def _yes(ok: bool) -> str:
    return "matches" if ok else "DIFFERS"


def _shown(rows: list[list[Any]]) -> list[list[Any]]:
    bad = [r for r in rows if "DIFFERS" in r or r[1] == "not in the log"]
    good = [r for r in rows if r not in bad]
    return bad[:_SHOWN] + good[: max(0, _SHOWN - len(bad))]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
