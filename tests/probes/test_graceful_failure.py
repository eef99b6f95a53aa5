"""Q2 graceful-failure probe, in-process: the example model, a fragile one, and both guarded.

The battery is generated from the reference data; each test asserts the exact outcome of
every case (by the kind of input), so a change in classification shows up as a diff.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import Assessment, ProbeContext, SpecError, Status, System
from prodready.adapters import Reply
from prodready.assessment import assess
from prodready.example.data import CATEGORICAL, TARGET, generate_applicants
from prodready.example.train import train_model
from prodready.probes import ProbeTimeout
from prodready.probes.graceful_failure import GracefulFailureProbe, GracefulFailureSettings
from prodready.probes.graceful_failure._battery import GARBAGE, Case, build_battery
from prodready.probes.graceful_failure._classify import battery_checks, classify
from prodready.system import Endpoint
from tests.conftest import CATEGORICAL as ZOO_CATEGORICAL
from tests.conftest import NUMERIC as ZOO_NUMERIC
from tests.conftest import make_frame
from tests.zoo import Fragile

CTX = ProbeContext(seed=0)
REGIONS = ["north", "south", "west"]


def run(system: System, context: ProbeContext = CTX) -> Any:
    return GracefulFailureProbe().run(system, context)


def outcomes(finding: Any) -> dict[str, str]:
    return dict(finding.measurements["outcome_of"])


def checks(finding: Any) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


def kinds(system: System, seed: int = 0) -> dict[str, str]:
    """Case name -> kind of input, for the battery the probe sends to ``system``."""
    battery = build_battery(
        system.reference,
        system.feature_columns,
        system.categorical_columns,
        GracefulFailureSettings(),
        seed,
    )
    return {c.name: c.kind for c in battery.cases}


def expected(system: System, special: dict[str, str]) -> dict[str, str]:
    """Every case's outcome: ``special`` by kind, else garbage for nonsense, fine for valid."""
    battery = build_battery(
        system.reference,
        system.feature_columns,
        system.categorical_columns,
        GracefulFailureSettings(),
        0,
    )
    return {
        c.name: special.get(c.kind, "silent garbage" if c.expect == "nonsense" else "fine")
        for c in battery.cases
    }


# -- the systems ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> System:
    """The bundled example's model (the prototype), small, in-process, with both windows."""
    model = train_model(generate_applicants(2000, seed=0, window="training"))
    return System(
        model=model,
        reference=generate_applicants(1000, seed=0, window="reference"),
        current=generate_applicants(1000, seed=0, window="current"),
        target=TARGET,
        categorical=list(CATEGORICAL),
    )


@pytest.fixture(scope="module")
def fragile_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(1000, 21), make_frame(1000, 22)


def fragile_system(model: Any, data: tuple[pd.DataFrame, pd.DataFrame], **kw: Any) -> System:
    ref, cur = data
    return System(model=model, reference=ref, current=cur, target="target", **kw)


# -- the example model ----------------------------------------------------------------------


def test_the_example_model_fails_naming_its_garbage_and_crashes(example: System) -> None:
    f = run(example)
    assert f.status is Status.FAIL
    # The bare pipeline answers every value it can convert: NaN, None, infinities, numbers
    # far out of range, categories it never saw, garbage. It raises on text in a number
    # column, a missing column, and an empty batch.
    assert outcomes(f) == expected(
        example,
        {"missing_column": "crash", "text_in_number": "crash", "empty_batch": "crash"},
    )
    assert checks(f)["no crash on unexpected input"] is Status.FAIL
    assert checks(f)["no silent garbage"] is Status.FAIL
    assert checks(f)["valid edge cases answered"] is Status.PASS
    assert f.summary.startswith("Crashed on 5 of 30 cases (missing column ")
    assert "answered 21 nonsense inputs as if valid (" in f.summary
    garbage = next(c for c in f.checks if c.name == "no silent garbage").message
    assert "unseen category in purpose" in garbage and "extreme value in" in garbage
    assert "prodready.guard.Guard" in f.remediation
    table = f.evidence[0]
    assert table.title == "Unexpected inputs sent to the system (30 cases)"
    assert len(table.rows) == 30
    assert f.not_assessed == []


def test_the_example_current_window_is_measured(example: System) -> None:
    f = run(example)
    current = f.measurements["current"]
    assert current["rows"] == 1000 and current["unscorable_rows"] == 0
    # The current window drifts, but within known categories and the accepted ranges (the
    # reference's, widened): drift is not invalid data.
    assert current["unexpected_rows"] == 0 and current["unseen_category_rows"] == 0
    assert checks(f)["current rows the model cannot score"] is Status.PASS
    assert checks(f)["unseen categories in production"] is Status.PASS
    assert "break the reference schema" in f.summary
    assert [e.title for e in f.evidence] == [
        "Unexpected inputs sent to the system (30 cases)",
        "Unexpected data in the current window, per feature",
    ]


# -- a fragile model ------------------------------------------------------------------------


FRAGILE = {
    "missing_column": "crash",
    "text_in_number": "crash",
    "nan": "crash",
    "none": "crash",
    "all_missing": "crash",
    "empty_batch": "crash",
}


def test_a_fragile_model_fails_naming_nan_crashes_and_unseen_garbage(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    system = fragile_system(Fragile(binary_model, {"region": REGIONS}), fragile_data)
    f = run(system)
    assert f.status is Status.FAIL
    assert outcomes(f) == expected(system, FRAGILE)
    crashes = next(c for c in f.checks if c.name == "no crash on unexpected input").message
    garbage = next(c for c in f.checks if c.name == "no silent garbage").message
    for name in kinds(system):
        if name.startswith(("NaN in ", "None in ")) or name == "all-missing row":
            assert name in crashes
    assert "unseen category in region" in garbage
    # The evidence keeps what the system said when it crashed.
    rows = {r[0]: r for r in f.evidence[0].rows}
    nan_case = next(n for n in kinds(system) if n.startswith("NaN in "))
    assert rows[nan_case][3] == "crash"
    assert rows[nan_case][6] == "ValueError: Input X contains NaN."


def test_nan_in_production_data_is_counted_as_unscorable(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = fragile_data
    cur = cur.copy()
    cur.loc[cur.index[:50], "income"] = np.nan
    cur.loc[cur.index[50:80], "region"] = "east"
    system = fragile_system(Fragile(binary_model, {"region": REGIONS}), (ref, cur))
    f = run(system)
    current = f.measurements["current"]
    assert current["unscorable_rows"] == 50
    assert current["unseen_category_rows"] == 30
    assert current["features"]["income"]["missing_current"] == 0.05
    assert current["features"]["region"]["unseen_examples"] == [["east", 30]]
    assert checks(f)["current rows the model cannot score"] is Status.FAIL
    assert checks(f)["new missing values in production"] is Status.WARN
    assert checks(f)["unseen categories in production"] is Status.WARN
    assert "the model fails on 50 of 1,000 current rows" in f.summary
    failures = next(e for e in f.evidence if e.title == "Current rows the model could not score")
    assert failures.rows[0][:2] == ["missing value in income", 50]


# -- the same model behind the guard --------------------------------------------------------


def guarded(model: Any, reference: pd.DataFrame, **kw: Any) -> Any:
    from prodready.guard import Guard, InputSchema

    schema = InputSchema.learn(reference, ZOO_NUMERIC + ZOO_CATEGORICAL, ZOO_CATEGORICAL)
    return Guard(model, schema, **kw)


#: The valid edge cases (and the empty batch): answered by a guarded model.
VALID = ("extra_column", "reordered_columns", "one_row", "large_batch", "empty_batch")


def test_the_fragile_model_behind_the_guard_passes(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fragile = Fragile(binary_model, {"region": REGIONS})
    system = fragile_system(guarded(fragile, fragile_data[0], on_invalid="reject"), fragile_data)
    f = run(system)
    assert outcomes(f) == {
        name: "fine" if kind in VALID else "clean rejection" for name, kind in kinds(system).items()
    }
    assert f.status is Status.PASS, f.summary
    assert f.summary.startswith(
        "Handled all 26 unexpected inputs: 21 refused cleanly, 0 answered with a declared safe "
        "default, 5 edge cases handled; "
    )
    # The guard's own error names the row, the column and the rule.
    rows = {r[0]: r for r in f.evidence[0].rows}
    assert "region" in rows["unseen category in region"][6]


def test_the_fragile_model_with_safe_defaults_passes(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fragile = Fragile(binary_model, {"region": REGIONS})
    model = guarded(fragile, fragile_data[0], on_invalid="safe_default", safe_default=0)
    system = fragile_system(model, fragile_data)
    f = run(system)
    assert f.status is Status.PASS, f.summary
    # Every nonsense row, a missing column's included, is answered with the declared default.
    assert outcomes(f) == {
        name: "fine" if kind in VALID else "safe default" for name, kind in kinds(system).items()
    }
    assert f.measurements["outcomes"]["safe default"] == 21


def test_without_current_data_half_one_is_not_assessed_and_the_pass_capped(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    fragile = Fragile(binary_model, {"region": REGIONS})
    model = guarded(fragile, fragile_data[0], on_invalid="reject")
    system = System(model=model, reference=fragile_data[0], target="target")
    f = run(system)
    assert f.status is Status.PASS  # the probe judged what it could...
    assert len(f.not_assessed) == 1 and "data.current" in f.not_assessed[0]
    assert "production data not assessed (no current data)" in f.summary
    assert f.measurements["current"] is None
    # ... and the assessment caps a partly assessed question: never a PASS.
    assessment = assess(system, probes={"Q2": GracefulFailureProbe}, questions=["Q2"])
    capped = assessment.finding("Q2")
    assert capped.status is Status.WARN
    assert any(c.name == "coverage" and "data.current" in c.message for c in capped.checks)
    # The finding, garbage text and all, goes into results.json and back unchanged.
    again = Assessment.from_dict(json.loads(assessment.to_json())).finding("Q2")
    assert again.evidence == capped.evidence and again.measurements == capped.measurements


def test_scoring_production_data_leaves_the_decision_log_alone(
    binary_model: Pipeline, fragile_data: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    model = guarded(binary_model, fragile_data[0], on_invalid="reject", decision_log=log)
    f = run(fragile_system(model, fragile_data))
    assert f.status is Status.PASS, f.summary
    # The battery's answered rows are decisions the system made (one row, the batches...);
    # the 1,000 current rows scored for half 1 are a measurement, not logged.
    lines = log.read_text().splitlines()
    assert 0 < len(lines) < 1100


def test_a_server_that_does_not_answer_fails(example: System) -> None:
    # Nothing listens on port 9 of the loopback (discard): the health check is refused.
    system = replace(example, endpoint=Endpoint(url="http://127.0.0.1:9", timeout_s=1))
    f = run(system)
    assert f.status is Status.FAIL
    assert checks(f)["system reachable"] is Status.FAIL
    assert f.summary.startswith(
        "MLflow scoring protocol at http://127.0.0.1:9 did not answer its health check"
    )
    assert "Start the model server" in f.remediation
    assert f.measurements["cases"] == 0


# -- the battery ----------------------------------------------------------------------------


def test_the_battery_follows_the_columns_not_their_names() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "a": rng.normal(size=200),  # can be negative
            "b": rng.integers(0, 5, 200),  # a count, never negative
            "c": np.where(rng.random(200) < 0.1, np.nan, rng.random(200)),  # has missing values
            "d": rng.choice(["x", "y"], 200),
            "e": rng.choice([1, 2, 3], 200),  # categorical codes: numbers
        }
    )
    battery = build_battery(
        reference, ["a", "b", "c", "d", "e"], ["d", "e"], GracefulFailureSettings(), 7
    )
    by_kind: dict[str, list[Case]] = {}
    for case in battery.cases:
        by_kind.setdefault(case.kind, []).append(case)
    # NaN and None only where the reference never misses a value; negatives only where the
    # reference never goes below zero; a number only in a categorical column of text.
    assert {c.column for c in by_kind["nan"]} == {"a", "b"}
    assert [c.column for c in by_kind["negative"]] == ["b", "c"]
    assert [c.column for c in by_kind["number_in_category"]] == ["d"]
    assert {c.column for c in by_kind["unseen_category"]} == {"d", "e"}
    assert len(by_kind["pos_inf"]) == 2  # columns_per_kind of the three numeric columns
    negative = by_kind["negative"][0]
    assert negative.frame is not None
    value = negative.frame.loc[1, "b"]
    assert value == -4 and pd.api.types.is_integer_dtype(negative.frame["b"])
    # The bad value is in the middle row; the others are valid reference rows.
    nan = by_kind["nan"][0]
    assert nan.nonsense_rows == (1,) and nan.frame is not None
    assert nan.frame[nan.column].isna().tolist() == [False, True, False]
    assert battery.left_out == [
        "malformed JSON, wrong payload shapes and a wrong content type: HTTP only (the "
        "system is called in-process)"
    ]
    again = build_battery(
        reference, ["a", "b", "c", "d", "e"], ["d", "e"], GracefulFailureSettings(), 7
    )
    assert [c.name for c in again.cases] == [c.name for c in battery.cases]


def test_a_single_numeric_feature_leaves_out_what_cannot_apply() -> None:
    reference = pd.DataFrame({"x": np.linspace(-1, 1, 50)})
    battery = build_battery(reference, ["x"], [], GracefulFailureSettings(), 0)
    assert "reordered columns: the model takes a single feature" in battery.left_out
    assert "unseen categories and text: no categorical feature" in battery.left_out
    assert "negative values: every numeric feature has negative values" in battery.left_out
    assert not any(c.kind in ("unseen_category", "garbage_text") for c in battery.cases)


def test_raw_http_cases_are_built_from_a_valid_body() -> None:
    reference = make_frame(100, 1)[ZOO_NUMERIC + ZOO_CATEGORICAL]

    def encode(frame: pd.DataFrame) -> bytes:
        return json.dumps({"rows": frame.to_dict(orient="split")["data"]}).encode()

    battery = build_battery(
        reference,
        ZOO_NUMERIC + ZOO_CATEGORICAL,
        ZOO_CATEGORICAL,
        GracefulFailureSettings(),
        0,
        encode=encode,
    )
    raw = {c.kind: c for c in battery.cases if c.http_only}
    assert list(raw) == [
        "malformed_json",
        "json_list",
        "empty_object",
        "wrong_key",
        "wrong_content_type",
    ]
    assert raw["malformed_json"].body is not None
    with pytest.raises(json.JSONDecodeError, match=r"Unterminated|Expecting"):
        json.loads(raw["malformed_json"].body)
    assert raw["wrong_key"].body is not None
    assert list(json.loads(raw["wrong_key"].body)) == ["unknown_rows"]
    assert raw["wrong_content_type"].content_type == "text/plain"
    assert raw["wrong_content_type"].expect == "either"


def test_garbage_and_long_text_are_shown_escaped_and_bounded() -> None:
    reference = make_frame(100, 1)[ZOO_NUMERIC + ZOO_CATEGORICAL]
    settings = GracefulFailureSettings(long_string=5000)
    battery = build_battery(reference, ZOO_NUMERIC + ZOO_CATEGORICAL, ZOO_CATEGORICAL, settings, 0)
    garbage = next(c for c in battery.cases if c.kind == "garbage_text")
    assert garbage.frame is not None and garbage.frame.loc[1, "region"] == GARBAGE
    assert "\x00" not in garbage.input and "\\x00" in garbage.input
    assert "\u202e" not in garbage.input
    long = next(c for c in battery.cases if c.kind == "long_text")
    assert long.frame is not None and len(long.frame.loc[1, "region"]) == 5000
    assert long.input == "region = 'AAAA'… (5,000 characters) (row 2 of 3)"


# -- classification -------------------------------------------------------------------------


def case(expect: str, rows: tuple[int, ...] = (1,)) -> Case:
    return Case("c", "k", expect, "x", frame=pd.DataFrame({"a": [1, 2, 3]}), nonsense_rows=rows)  # type: ignore[arg-type]


def test_classification_rules() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    answered = Reply("answered", outputs=proba)
    flagged = Reply("answered", outputs=proba, safe_default=np.array([False, True, False]))
    other = Reply("answered", outputs=proba, safe_default=np.array([True, False, True]))
    refused = Reply("rejected", status=400, error="INVALID_PARAMETER_VALUE: row 2, a: unseen")
    # MLflow answers 400 to an exception of the model: a crash passed on as a refusal.
    passed_on = Reply("rejected", status=400, error="x\nTraceback (most recent call last): ...")
    nan = Reply("answered", outputs=np.array([[0.9, 0.1], [np.nan, np.nan], [0.5, 0.5]]))
    assert classify(case("nonsense"), answered).outcome == "silent garbage"
    assert classify(case("nonsense"), flagged).outcome == "safe default"
    assert classify(case("nonsense"), other).outcome == "silent garbage"
    assert classify(case("nonsense"), refused).outcome == "clean rejection"
    assert classify(case("nonsense"), passed_on).outcome == "crash"
    assert classify(case("nonsense"), nan).outcome == "silent garbage"
    assert classify(case("valid", ()), nan).outcome == "crash"
    assert classify(case("valid", ()), refused).outcome == "valid input rejected"
    assert classify(case("either", ()), refused).outcome == "fine"
    for kind in ("crashed", "dropped", "timeout", "malformed"):
        assert classify(case("valid", ()), Reply(kind)).outcome == "crash"  # type: ignore[arg-type]
    empty = Reply("answered", outputs=np.empty((0, 2)), safe_default=np.empty(0, dtype=bool))
    assert classify(case("nonsense", ()), empty).outcome == "silent garbage"
    long = classify(case("nonsense"), Reply("rejected", status=400, error="e" * 2000))
    assert len(long.error) == 300
    results = [
        classify(case("valid", ()), refused),
        classify(case("nonsense"), refused),
    ]
    judged = {c.name: c.status for c in battery_checks(results)}
    # A refused valid request is a WARN, never a crash.
    assert judged == {
        "no crash on unexpected input": Status.PASS,
        "no silent garbage": Status.PASS,
        "valid edge cases answered": Status.WARN,
    }


# -- settings, time limits, purity ----------------------------------------------------------


def test_settings_are_checked(example: System) -> None:
    with pytest.raises(SpecError, match=r"graceful_failure\.large_batch"):
        GracefulFailureProbe().settings(example.with_settings("graceful_failure", large_batch=0))
    with pytest.raises(SpecError, match=r"graceful_failure\.max_unseen_share"):
        GracefulFailureProbe().settings(
            example.with_settings("graceful_failure", max_unseen_share=2.0)
        )


def test_the_probe_stops_at_its_deadline(example: System) -> None:
    with pytest.raises(ProbeTimeout):
        run(example, ProbeContext(deadline=time.monotonic() - 1))


def test_the_battery_is_fast_and_reports_progress(example: System) -> None:
    steps: list[str] = []
    start = time.perf_counter()
    run(example, ProbeContext(progress=lambda step, fraction: steps.append(step)))
    assert time.perf_counter() - start < 10
    assert steps[0] == "the current window against the reference schema"
    assert "case 1 of 30: missing column " in " | ".join(steps)


def test_never_mutates_model_or_data(example: System) -> None:
    objects = (example.model, example.reference, example.current)
    before = [hashlib.sha256(pickle.dumps(o)).hexdigest() for o in objects]
    run(example)
    after = [hashlib.sha256(pickle.dumps(o)).hexdigest() for o in objects]
    assert before == after
