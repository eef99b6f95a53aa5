"""The numpy metrics of monitoring equal scikit-learn's; bootstrap intervals cover the truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from prodready.probes._performance import bootstrap_drop, metric_function


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500), 2)  # ties, as real scores have
    assert metric_function("binary", 1)(y, score) == pytest.approx(
        metrics.roc_auc_score(y, score), abs=1e-12
    )
    labels = np.array(["a", "b", "c"])
    y3, pred3 = labels[rng.integers(0, 3, 500)], labels[rng.integers(0, 3, 500)]
    assert metric_function("multiclass")(y3, pred3) == pytest.approx(
        metrics.f1_score(y3, pred3, average="macro"), abs=1e-12
    )
    yr, pr = rng.normal(size=500), rng.normal(size=500)
    assert metric_function("regression")(yr, pr) == pytest.approx(metrics.r2_score(yr, pr))


def test_undefined_metrics_are_nan() -> None:
    assert np.isnan(metric_function("binary", 1)(np.array([1, 1]), np.array([0.2, 0.9])))
    assert np.isnan(metric_function("regression")(np.array([1.0]), np.array([2.0])))


def test_interval_of_no_change_covers_zero_and_a_real_drop_is_beyond_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    good = np.clip(y * 0.3 + rng.random(4000) * 0.7, 0, 1)
    again = np.clip(y * 0.3 + rng.random(4000) * 0.7, 0, 1)
    worse = np.clip(y * 0.05 + rng.random(4000) * 0.95, 0, 1)
    auc = metric_function("binary", 1)
    _, _, same = bootstrap_drop(auc, (y, good), (y, again), resamples=200, level=0.95, seed=1)
    assert same.low < 0 < same.high
    _, _, drop = bootstrap_drop(auc, (y, good), (y, worse), resamples=200, level=0.95, seed=1)
    assert drop.low > 0.1
