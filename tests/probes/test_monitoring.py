"""Q3 monitoring probe, on healthy systems and deliberately broken ones."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System
from prodready.probes import MonitoringProbe
from prodready.probes.monitoring._evidence import _hist_chart
from tests.conftest import make_frame
from tests.zoo import with_nan

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
    # Income fell by a quarter and the region mix turned over: major shifts (PSI > 0.25).
    assert statuses(f)["feature drift"] is Status.FAIL
    check = next(c for c in f.checks if c.name == "feature drift")
    assert "income (PSI" in check.message and "major" in check.message
    assert f.measurements["psi"]["income"] > 0.25 and f.measurements["psi"]["age"] < 0.01
    assert statuses(f)["prediction drift"] in (Status.WARN, Status.FAIL)  # by its PSI band
    assert f.measurements["prediction_psi"] >= 0.1
    assert f.not_assessed == []  # the online rehearsal is built: nothing left unassessed
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
        "missing values": Status.PASS,
        "feature drift": Status.PASS,
        "categorical cardinality": Status.PASS,
        "test power": Status.PASS,
        "prediction drift": Status.PASS,
        "performance": Status.PASS,
        "performance by segment": Status.PASS,
        "reference out of sample": Status.PASS,
        # Everything measured is fine, but no monitor of the system's own was tested.
        "your monitor, rehearsed": Status.WARN,
    }
    assert f.status is Status.WARN


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


def test_a_feature_missing_in_every_current_row_fails(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    # HistGradientBoosting takes missing values: the model answers, the drift test sees no
    # values to compare; only measuring missingness catches it.
    cur = cur.assign(debt_ratio=float("nan"))
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"monitoring": {"engine": "scipy"}},
        )
    )
    assert statuses(f)["missing values"] is Status.FAIL and f.status is Status.FAIL
    assert f.summary.startswith("Missing in every current row: debt_ratio; ")
    assert f.measurements["missing_share"]["debt_ratio"] == {"reference": 0.0, "current": 1.0}
    table = next(e for e in f.evidence if e.title.startswith("Missing values"))
    assert table.rows[0][:3] == ["debt_ratio", 0.0, 1.0]


def test_more_missing_values_warn(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    cur = with_nan(cur, "balance", 0.3, seed=2)
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"monitoring": {"engine": "scipy", "max_missing_increase": 0.2}},
        )
    )
    check = next(c for c in f.checks if c.name == "missing values")
    assert check.status is Status.WARN and "balance +30.0%" in check.message


def test_high_cardinality_categorical_warns_and_its_chart_is_bounded(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    ref = ref.assign(code=[f"c{i}" for i in range(len(ref))])
    cur = cur.assign(code=[f"d{i}" for i in range(len(cur))])
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            features=["income", "debt_ratio", "age", "balance", "region"],
            settings={"monitoring": {"engine": "scipy", "max_categories": 100}},
        )
    )
    assert statuses(f)["categorical cardinality"] is Status.PASS  # region: 3 values
    # Now a feature with a value per row, declared categorical (an id, in truth).
    wide = run(
        System(
            model=_Ignores(binary_model, "code"),
            reference=ref,
            current=cur,
            target="target",
            features=["income", "debt_ratio", "age", "balance", "region", "code"],
            categorical=["region", "code"],
            settings={"monitoring": {"engine": "scipy", "max_categories": 100}},
        )
    )
    check = next(c for c in wide.checks if c.name == "categorical cardinality")
    assert check.status is Status.WARN
    assert check.message.startswith("code has 6,000 distinct values in 6,000 rows")
    # 6,000 categories seen once each: chi-square cannot call it drift (the warning can).
    assert "code" not in wide.measurements["features_drifted"]
    chart = _hist_chart("code", ref["code"].to_numpy(), cur["code"].to_numpy(), "categorical", "")
    assert len(chart.x) == 21 and chart.x[-1] == "other (5,980 more)"
    assert abs(sum(chart.series["current"]) - 1.0) < 1e-3


class _Ignores:
    """A model that takes one extra input column it does not use."""

    def __init__(self, model: Any, column: str) -> None:
        self.model, self.column = model, column
        self.classes_ = model.classes_
        self._estimator_type = "classifier"

    def predict(self, x: pd.DataFrame) -> Any:
        return self.model.predict(x.drop(columns=self.column))

    def predict_proba(self, x: pd.DataFrame) -> Any:
        return self.model.predict_proba(x.drop(columns=self.column))


def test_an_unmeasurable_metric_is_not_a_failure(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur.iloc[:1],
            target="target",
            settings={"monitoring": {"engine": "scipy"}},
        )
    )
    perf = next(c for c in f.checks if c.name == "performance")
    assert perf.status is Status.WARN
    assert perf.message == (
        "roc_auc cannot be measured: the current window has 1 labelled row of a single class, "
        "too few to compute roc_auc."
    )
    assert "roc_auc cannot be measured on the current window" in f.summary
    assert any(p.startswith("performance: roc_auc cannot be measured") for p in f.not_assessed)
    assert f.status is not Status.FAIL


def test_performance_is_judged_on_its_interval_and_by_segment(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    cur = make_frame(3000, 99)
    # The world changed for one region only: its labels flipped. The average hides part of it.
    west = cur["region"] == "west"
    cur.loc[west, "target"] = 1 - cur.loc[west, "target"]
    f = run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"monitoring": {"engine": "scipy", "bootstrap": 50}},
        )
    )
    perf = f.measurements["performance"]
    low, high = perf["drop_interval"]
    assert low <= perf["drop"] <= high and perf["confidence"] == 0.95
    segment = next(c for c in f.checks if c.name == "performance by segment")
    assert segment.status is Status.WARN and "region = west" in segment.message
    assert f.measurements["segments"][0]["value"] == "west"
    table = next(e for e in f.evidence if e.title.startswith("roc_auc by segment"))
    assert table.rows[0][:2] == ["region", "west"]


def test_in_sample_reference_and_too_few_rows_warn(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    f = run(
        System(
            model=binary_model,
            reference=ref.iloc[:89],
            current=cur.iloc[:89],
            target="target",
            settings={"monitoring": {"engine": "scipy", "reference_is_training": True}},
        )
    )
    checks = {c.name: c for c in f.checks}
    assert checks["reference out of sample"].status is Status.WARN
    assert (
        "the spec says the reference is the training data"
        in checks["reference out of sample"].message
    )
    power = checks["test power"]
    assert power.status is Status.WARN and 0.2 < power.measured < 0.35
    assert power.message.startswith("With 89 reference and 89 current rows the tests can see")
    assert round(f.measurements["detectable_shift"], 6) == power.measured


# -- the online rehearsal: monitors named by hooks.monitor ----------------------------------

REHEARSAL = {"engine": "scipy", "rehearsal_runs": 3, "warmup": 600, "max_decisions": 600}


def never_alarms(batch: pd.DataFrame) -> list[bool]:
    return [False] * len(batch)


def always_alarms(batch: pd.DataFrame) -> list[bool]:
    return [True] * len(batch)


def raises(batch: pd.DataFrame) -> list[bool]:
    raise RuntimeError("monitor backend unreachable")


def rehearsed(
    binary_model: Pipeline, data: tuple[pd.DataFrame, pd.DataFrame], hook: str | None
) -> Any:
    ref, cur = data
    return run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            hooks={"monitor": f"tests.probes.test_monitoring:{hook}"} if hook else {},
            settings={"monitoring": REHEARSAL},
        )
    )


def monitor_check(finding: Any) -> Any:
    return next(c for c in finding.checks if c.name == "your monitor, rehearsed")


def test_without_a_monitor_of_its_own_the_rehearsal_warns_and_shows_feasibility(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = rehearsed(binary_model, binary_data, None)
    check = monitor_check(f)
    assert check.status is Status.WARN
    assert check.message.startswith("No monitor of yours was tested (name it in hooks.monitor)")
    assert "caught the shift after a median of" in check.message
    features = f.measurements["rehearsal"]["features / current"]
    assert features["detected"] == 3 and features["median_delay"] <= 500
    assert f.measurements["recommended_monitor"]["ert"] == 1000
    assert "rehearsal" not in " ".join(f.not_assessed)
    chart = next(e for e in f.evidence if e.title.startswith("Online detector"))
    assert "The shift starts at decision 600" in chart.note


def test_a_monitor_that_never_alarms_fails(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    check = monitor_check(rehearsed(binary_model, binary_data, "never_alarms"))
    assert check.status is Status.FAIL
    assert "it missed the current window's shift in 3 of 3 runs" in check.message


def test_a_monitor_that_always_alarms_fails_on_false_alarms(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    check = monitor_check(rehearsed(binary_model, binary_data, "always_alarms"))
    assert check.status is Status.FAIL
    assert "1000.00 false alarms per 1,000 decisions (> 2)" in check.message


def test_a_monitor_that_raises_is_the_system_failing(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = rehearsed(binary_model, binary_data, "raises")
    check = monitor_check(f)
    assert check.status is Status.FAIL and f.status is Status.FAIL
    assert check.message == (
        "Your monitor (hooks.monitor) failed when fed decisions: RuntimeError: monitor "
        "backend unreachable."
    )


def test_a_monitor_that_catches_the_shift_passes(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    check = monitor_check(rehearsed(binary_model, binary_data, "team_monitor"))
    assert check.status is Status.PASS
    assert check.message.startswith("Your monitor (hooks.monitor) caught the shift after")


_team: list[Any] = []


def team_monitor(batch: pd.DataFrame) -> list[bool]:
    """A team's monitor: prodready's detector built on its own sample of the population."""
    from prodready.online import ScipyOnlineEngine

    if not _team:
        own = make_frame(2000, 77)[["income", "debt_ratio", "age", "balance", "region"]]
        _team.append(ScipyOnlineEngine().build(own, categorical=["region"], seed=0))
    return [bool(s > _team[0].threshold) for s in _team[0].update(batch)]


team_monitor.reset = lambda: _team[0].reset() if _team else None  # type: ignore[attr-defined]


def test_a_hair_of_a_shift_at_100k_rows_is_significant_but_not_flagged() -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    n = 100_000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    cur = pd.DataFrame({"a": rng.normal(size=n) + 0.03, "b": rng.normal(size=n)})
    ref["y"] = ref["a"] + ref["b"]
    cur["y"] = cur["a"] + cur["b"]
    model = LinearRegression().fit(ref[["a", "b"]], ref["y"])
    f = run(
        System(
            model=model,
            reference=ref,
            current=cur,
            target="y",
            settings={"monitoring": {"engine": "scipy", "rehearsal_runs": 2}},
        )
    )
    a = next(row for row in f.evidence[0].rows if row[0] == "a")
    assert a[5] == "yes" and a[6] < 0.01 and a[9] == "no"  # significant, tiny, not drifted
    assert f.measurements["features_drifted"] == []
    check = next(c for c in f.checks if c.name == "feature drift")
    assert check.status is Status.PASS
    assert check.message == "No feature drifted. Significant but below PSI 0.1, so not flagged: a."


def test_remediation_points_at_the_monitor_to_build_or_fix(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    without = rehearsed(binary_model, binary_data, None)
    assert "name it in hooks.monitor so it is rehearsed: monitor.json" in without.remediation
    broken = rehearsed(binary_model, binary_data, "never_alarms")
    assert "Fix your monitor (hooks.monitor)" in broken.remediation
