"""Q3 monitoring probe, on healthy systems and deliberately broken ones."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System
from prodready.probes import MonitoringProbe
from tests.conftest import make_frame

CTX = ProbeContext(deadline=float("inf"))


def run(system: System) -> Any:
    return MonitoringProbe().run(system, CTX)


def statuses(finding: Any) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


def test_known_drift_is_found_and_named(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"monitoring": {"engine": "scipy"}},
        )
    )
    assert f.measurements["features_drifted"] == ["income", "region"]
    assert statuses(f)["feature drift"] is Status.WARN
    assert statuses(f)["prediction drift"] is Status.WARN
    assert f.not_assessed and "rehearsal" in f.not_assessed[0]
    titles = [e.title for e in f.evidence]
    assert "Feature drift (scipy engine)" in titles
    assert "Drifted feature: income" in titles and "Drifted feature: region" in titles


def test_stable_data_passes_every_check(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    same = make_frame(3000, 99)  # a fresh sample of the reference distribution
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=same,
            target="target",
            settings={"monitoring": {"engine": "scipy"}},
        )
    )
    assert statuses(f) == {
        "model scores every row": Status.PASS,
        "feature drift": Status.PASS,
        "prediction drift": Status.PASS,
        "performance": Status.PASS,
    }
    assert f.status is Status.PASS  # the runner caps it to WARN: the rehearsal is missing


def test_broken_labels_fail_on_performance(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    broken = make_frame(3000, 99)
    broken["target"] = 1 - broken["target"]  # the world flipped: the model is now wrong
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=broken,
            target="target",
            settings={"monitoring": {"engine": "scipy", "max_performance_drop": 0.05}},
        )
    )
    assert f.status is Status.FAIL
    assert statuses(f)["performance"] is Status.FAIL
    assert f.measurements["performance"]["metric"] == "roc_auc"
    assert f.measurements["performance"]["drop"] > 0.3
    assert "retrain" in f.remediation


def test_no_current_data_is_not_assessed_naming_the_field(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    f = run(System(model=binary_model, reference=ref, target="target"))
    # Missing evidence is never SKIPPED: that would raise the score by omitting data.
    assert f.status is Status.NOT_ASSESSED and f.summary.startswith("No current data")
    assert f.measurements["missing_spec_field"] == "data.current"
    assert "Set data.current in the spec" in f.remediation


def test_unlabelled_current_data_warns(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur.drop(columns="target"),
            target="target",
            settings={"monitoring": {"engine": "scipy"}},
        )
    )
    assert statuses(f)["performance"] is Status.WARN
    assert f.measurements["performance"] is None and "no labels" in f.summary


def test_multiclass_and_regression(
    multiclass_model: Pipeline,
    multiclass_data: tuple[pd.DataFrame, pd.DataFrame],
    regression_model: Any,
    regression_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = multiclass_data
    f = run(System(model=multiclass_model, reference=ref, current=cur, target="target"))
    assert f.measurements["performance"]["metric"] == "macro_f1"
    assert statuses(f)["performance"] is Status.PASS
    ref, cur = regression_data
    f = run(System(model=regression_model, reference=ref, current=cur, target="target"))
    assert f.measurements["performance"]["metric"] == "r2"
    assert f.measurements["features_tested"] == 4


def test_never_mutates_model_or_data(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    before = [hashlib.sha256(pickle.dumps(o)).hexdigest() for o in (binary_model, ref, cur)]
    run(System(model=binary_model, reference=ref, current=cur, target="target"))
    after = [hashlib.sha256(pickle.dumps(o)).hexdigest() for o in (binary_model, ref, cur)]
    assert before == after


@pytest.mark.alibi
def test_engines_agree_on_the_probe(
    binary_model: Pipeline,
    alibi_detect_module: object,
    binary_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = binary_data
    found = {
        engine: run(
            System(
                model=binary_model,
                reference=ref,
                current=cur,
                target="target",
                settings={"monitoring": {"engine": engine}},
            )
        ).measurements
        for engine in ("scipy", "alibi")
    }
    assert found["scipy"]["features_drifted"] == found["alibi"]["features_drifted"]
    assert found["alibi"]["drift_engine"] == "alibi"
