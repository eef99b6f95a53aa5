"""Q5's traceable half: decisions sent through the system, looked up in its decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System
from prodready._chain import canonical_json
from prodready.guard import Guard, InputSchema
from prodready.probes import ExplainabilityProbe
from prodready.probes.explainability._trace import Trace, trace
from prodready.system import Artifact

CTX = ProbeContext(deadline=float("inf"), seed=0)
DIGEST = "ab" * 32  # the assessed model artifact's sha256, as the spec's model.path gives it


def checks(result: Trace) -> dict[str, Status]:
    return {c.name: c.status for c in result.checks}


def message(result: Trace, name: str) -> str:
    return next(c.message for c in result.checks if c.name == name)


def guarded(
    model: Pipeline,
    data: tuple[pd.DataFrame, pd.DataFrame],
    log: Path | None,
    *,
    spec_log: Path | None,
    logged_digest: str = DIGEST,
) -> System:
    """The model behind a guard writing ``log``; the spec names ``spec_log`` as the log."""
    ref, cur = data
    features = [c for c in ref.columns if c != "target"]
    schema = InputSchema.learn(ref, features, ["region"])
    guard = Guard(
        model, schema, decision_log=log, model_version="test 1", model_sha256=logged_digest
    )
    return System(
        model=guard,
        reference=ref,
        current=cur,
        target="target",
        categorical=["region"],
        decision_log=spec_log,
        model_artifact=Artifact("model.skops", sha256=DIGEST, format="skops"),
    )


def test_bare_model_in_process_is_not_traceable(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    system = System(model=binary_model, reference=ref, current=cur, target="target")
    result = trace(system, 20, 5, 1e-9, CTX)
    assert checks(result) == {"decision ids": Status.FAIL, "decision log": Status.FAIL}
    assert message(result, "decision ids") == (
        "20 of the 20 decisions answered carry no decision id: they cannot be looked up in any log."
    )
    assert result.sentence == "decisions are not traceable: no decision id and no decision log"
    assert "prodready.guard.Guard" in result.remediation


def test_guarded_model_with_its_log_is_traceable(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    log = tmp_path / "decisions.jsonl"
    result = trace(guarded(binary_model, binary_data, log, spec_log=log), 30, 10, 1e-9, CTX)
    assert set(checks(result).values()) == {Status.PASS}, [c.message for c in result.checks]
    assert list(checks(result)) == [
        "decision ids",
        "log intact",
        "every decision logged",
        "logged model is the assessed model",
        "logged input is what was sent",
        "logged output is the answer",
        "replay gives the logged output",
    ]
    assert result.measurements["decisions_answered"] == 30
    assert result.measurements["replayed"] == 10
    assert result.sentence.startswith("every decision is traceable: 30 decisions found")
    assert not result.not_assessed and not result.remediation


def test_one_edited_line_breaks_the_chain_and_is_named(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    log = tmp_path / "decisions.jsonl"
    system = guarded(binary_model, binary_data, log, spec_log=log)
    trace(system, 10, 0, 1e-9, CTX)
    lines = log.read_text().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["prediction"] = 1 - record["prediction"]  # someone changes line 4's decision
    lines[3] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    log.write_text("".join(lines))

    result = trace(system, 10, 0, 1e-9, ProbeContext(seed=1))
    assert checks(result)["log intact"] is Status.FAIL
    assert message(result, "log intact").startswith("The log's hash chain is broken: line 4:")
    table = next(e for e in result.evidence if "hash chain breaks" in e.title)
    assert table.rows[0][0] == 4
    assert "NOT fully traceable" in result.sentence


def _rewrite_chain(log: Path, records: list[dict[str, Any]]) -> None:
    import hashlib

    prev = "0" * 64
    lines = []
    for seq, record in enumerate(records, start=1):
        body = {k: v for k, v in record.items() if k != "hash"} | {"seq": seq, "prev": prev}
        text = canonical_json(body)
        prev = hashlib.sha256(text.encode()).hexdigest()
        lines.append(text[:-1] + f',"hash":"{prev}"}}\n')
    log.write_text("".join(lines))


def test_tampered_input_digest_of_a_traced_decision_fails(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """The probe looks up its own decisions: forge the digest of one of them, chain intact."""
    log = tmp_path / "decisions.jsonl"
    system = guarded(binary_model, binary_data, log, spec_log=log)
    forged: dict[str, str] = {}

    real_decide = system.model.decide

    def decide_and_forge(frame: pd.DataFrame) -> Any:
        answer = real_decide(frame)
        if not forged:  # forge the first decision's logged input digest, re-chaining
            records = [json.loads(line) for line in log.read_text().splitlines()]
            forged["id"] = records[-1]["decision_id"]
            records[-1]["input_sha256"] = "0" * 64
            _rewrite_chain(log, records)
        return answer

    system.model.decide = decide_and_forge
    result = trace(system, 10, 0, 1e-9, CTX)
    assert checks(result)["log intact"] is Status.PASS
    assert checks(result)["logged input is what was sent"] is Status.FAIL
    assert message(result, "logged input is what was sent") == (
        "1 of 10 logged input digests do not match the input that was sent."
    )


def test_log_of_another_model_fails(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    log = tmp_path / "decisions.jsonl"
    system = guarded(binary_model, binary_data, log, spec_log=log, logged_digest="cd" * 32)
    result = trace(system, 10, 0, 1e-9, CTX)
    assert checks(result)["logged model is the assessed model"] is Status.FAIL
    assert message(result, "logged model is the assessed model") == (
        "10 of 10 logged decisions name another model digest than the assessed model's "
        f"({DIGEST[:12]}…)."
    )


def test_ids_but_no_log_named_in_the_spec_is_not_assessed(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    system = guarded(binary_model, binary_data, tmp_path / "log.jsonl", spec_log=None)
    result = trace(system, 10, 0, 1e-9, CTX)
    assert checks(result) == {"decision ids": Status.PASS}
    assert len(result.not_assessed) == 1 and "decision_log" in result.not_assessed[0]


def test_log_named_in_the_spec_but_never_written_fails(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    system = guarded(
        binary_model, binary_data, tmp_path / "real.jsonl", spec_log=tmp_path / "named.jsonl"
    )
    result = trace(system, 10, 0, 1e-9, CTX)
    assert checks(result)["decision log"] is Status.FAIL
    assert "does not exist after 10 decisions were answered" in message(result, "decision log")


def test_decisions_missing_from_the_log_fail(
    tmp_path: Path, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """A log that is intact but not this system's: none of the decision ids are in it."""
    other = tmp_path / "other.jsonl"
    trace(guarded(binary_model, binary_data, other, spec_log=other), 5, 0, 1e-9, CTX)
    system = guarded(binary_model, binary_data, tmp_path / "real.jsonl", spec_log=other)
    result = trace(system, 10, 0, 1e-9, CTX)
    assert checks(result)["every decision logged"] is Status.FAIL
    assert message(result, "every decision logged").startswith("10 of 10 decision ids are not")


@pytest.mark.parametrize("sample", [1, 7])
def test_single_rows_and_batches_are_both_traced(
    sample: int,
    tmp_path: Path,
    binary_model: Pipeline,
    binary_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    log = tmp_path / "decisions.jsonl"
    result = trace(guarded(binary_model, binary_data, log, spec_log=log), sample, 1, 1e-9, CTX)
    assert result.measurements["decisions_with_id"] == sample
    assert set(checks(result).values()) == {Status.PASS}


def test_probe_fails_a_bare_model_on_traceability_and_says_so(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    system = System(
        model=binary_model,
        reference=ref,
        current=cur,
        target="target",
        settings={"explainability": {"sample": 50, "trace_sample": 10}},
    )
    f = ExplainabilityProbe().run(system, CTX)
    assert f.status is Status.FAIL
    assert f.summary.endswith("; decisions are not traceable: no decision id and no decision log.")
    assert "prodready.guard.Guard" in f.remediation
