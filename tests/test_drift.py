"""Drift engines: they flag exactly the shifted features, agree with scipy, handle the edges.

Data are synthetic and deterministic: 5,000 rows per side, 6 numeric and 3 categorical columns,
of which x1 (mean), x4 (spread) and c2 (category mix) are shifted in the current data.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from prodready._exceptions import DataError, MissingDependencyError, UsageError
from prodready.drift import (
    KS_EXACT_MAX_N,
    AlibiEngine,
    DriftEngine,
    DriftReport,
    ScipyEngine,
    get_engine,
)

ROWS = 5_000
NUMERIC = [f"x{i}" for i in range(6)]
CATEGORICAL = ["c0", "c1", "c2"]
SHIFTED = ["x1", "x4", "c2"]


def make_frame(n: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """6 numeric + 3 categorical columns; ``shifted`` moves x1, x4 and c2 only."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        values = rng.normal(loc=float(i), scale=1.0 + i / 4, size=n)
        if shifted and name == "x1":
            values += 0.3 * (1.0 + i / 4)
        if shifted and name == "x4":
            values = i + (values - i) * 1.4
        data[name] = values
    p_default = [0.5, 0.3, 0.2]
    p_shifted = [0.4, 0.3, 0.3]
    for name in CATEGORICAL:
        p = p_shifted if shifted and name == "c2" else p_default
        data[name] = rng.choice(["red", "green", "blue"], size=n, p=p)
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def shifted_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(ROWS, 11), make_frame(ROWS, 12, shifted=True)


@pytest.fixture(scope="module")
def same_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(ROWS, 21), make_frame(ROWS, 22)


def _by_name(report: DriftReport) -> dict[str, float]:
    return {f.feature: f.p_value for f in report.features}


# -- the scipy engine -------------------------------------------------------------------------


def test_scipy_flags_exactly_the_shifted_features(
    shifted_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = shifted_pair
    report = ScipyEngine().detect(ref, cur, categorical=CATEGORICAL, alpha=0.05)
    assert report.engine == "scipy"
    assert report.correction == "bonferroni"
    assert report.threshold == pytest.approx(0.05 / 9)
    assert [f.feature for f in report.features] == NUMERIC + CATEGORICAL
    assert report.drifted == SHIFTED
    kinds = {f.feature: (f.kind, f.test) for f in report.features}
    assert kinds["x0"] == ("numeric", "ks")
    assert kinds["c0"] == ("categorical", "chi2")
    for f in report.features:
        assert f.drifted == (f.p_value < report.threshold)


def test_scipy_flags_nothing_on_one_distribution(
    same_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    report = ScipyEngine().detect(*same_pair, categorical=CATEGORICAL)
    assert report.drifted == []
    assert all(0.0 <= f.p_value <= 1.0 for f in report.features)


def test_bonferroni_uses_the_number_of_features(
    shifted_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = shifted_pair
    report = ScipyEngine().detect(ref[["x0", "x1"]], cur, alpha=0.01)
    assert report.alpha == 0.01
    assert report.threshold == pytest.approx(0.005)
    assert report.drifted == ["x1"]


def test_ks_matches_scipy_exact_small_samples() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.exponential(size=3000)})
    cur = pd.DataFrame({"a": rng.normal(0.05, 1, size=2500), "b": rng.exponential(size=2500)})
    report = ScipyEngine().detect(ref, cur)
    for f in report.features:
        expected = stats.ks_2samp(ref[f.feature], cur[f.feature])
        assert f.statistic == pytest.approx(expected.statistic, abs=1e-12)
        assert f.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("data", ["continuous", "ties", "signed-zeros-and-infinities"])
def test_ks_matches_scipy_on_large_samples(data: str) -> None:
    """Above KS_EXACT_MAX_N our own statistic is used: it must be scipy's, bit for bit."""
    rng = np.random.default_rng(4)
    n1, n2 = KS_EXACT_MAX_N + 2_000, KS_EXACT_MAX_N + 5_123
    x, y = rng.normal(size=n1), rng.normal(0.03, 1, size=n2)
    if data == "ties":
        x, y = np.round(x, 1), np.round(y, 1)
    if data == "signed-zeros-and-infinities":
        x[::7], y[::5] = -0.0, 0.0
        x[::11], y[::13] = np.inf, -np.inf
    report = ScipyEngine().detect(pd.DataFrame({"v": x}), pd.DataFrame({"v": y}))
    expected = stats.ks_2samp(x, y)
    (f,) = report.features
    assert f.statistic == expected.statistic
    # Asymptotic Kolmogorov distribution vs scipy's kstwo at the rounded effective n: both
    # approximate the exact p-value, within a few percent of each other at these sizes.
    assert f.p_value == pytest.approx(expected.pvalue, rel=0.03)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(3_000, 30_000), (30_000, 3_000)])
def test_ks_matches_scipy_with_one_small_side(n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=n_ref), rng.normal(0.02, 1, size=n_cur)
    (f,) = ScipyEngine().detect(pd.DataFrame({"v": x}), pd.DataFrame({"v": y})).features
    expected = stats.ks_2samp(x, y)
    assert f.statistic == expected.statistic
    assert f.p_value == pytest.approx(expected.pvalue, rel=0.03)


def test_chi2_matches_chi2_contingency(shifted_pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = shifted_pair
    ref = ref.assign(two=np.where(ref["x0"] > 0.05, "hi", "lo"))
    cur = cur.assign(two=np.where(cur["x0"] > 0.0, "hi", "lo"))
    report = ScipyEngine().detect(ref[["c2", "two"]], cur, categorical=["c2", "two"])
    for f in report.features:
        table = pd.crosstab(
            np.r_[np.zeros(len(ref)), np.ones(len(cur))],
            np.r_[ref[f.feature].to_numpy(), cur[f.feature].to_numpy()],
        ).to_numpy()
        # chi2_contingency applies Yates' correction to the 2 x 2 table ("two"): so do we.
        statistic, p_value, _, _ = stats.chi2_contingency(table)
        assert f.statistic == pytest.approx(statistic, rel=1e-9)
        assert f.p_value == pytest.approx(p_value, rel=1e-6)


def test_missing_values_are_dropped_per_column() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=4000), rng.normal(size=3000)
    x[rng.random(4000) < 0.1] = np.nan
    y[rng.random(3000) < 0.2] = np.nan
    ints = pd.array(rng.integers(0, 50, 4000), dtype="Int64")
    ints[:100] = pd.NA
    cats = pd.Series(rng.choice(["a", "b"], size=4000), dtype=object)
    cats[::10] = None
    ref = pd.DataFrame({"x": x, "ints": ints, "cat": cats})
    cur = pd.DataFrame({"x": y, "ints": ints[:3000], "cat": cats[:3000].to_numpy()})
    report = ScipyEngine().detect(ref, cur, categorical=["cat"])
    fx, fints, fcat = report.features
    expected = stats.ks_2samp(x[~np.isnan(x)], y[~np.isnan(y)])
    assert fx.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert fx.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    expected = stats.ks_2samp(ints[100:].to_numpy(float), ints[100:3000].to_numpy(float))
    assert fints.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert np.isfinite(fcat.p_value)


def test_exact_p_value_when_missing_values_leave_few_rows() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=25_000), rng.normal(size=22_000)
    x[rng.random(25_000) < 0.7] = np.nan
    y[rng.random(22_000) < 0.6] = np.nan
    (f,) = ScipyEngine().detect(pd.DataFrame({"v": x}), pd.DataFrame({"v": y})).features
    expected = stats.ks_2samp(x[~np.isnan(x)], y[~np.isnan(y)])  # both sides under 10k: exact
    assert f.statistic == expected.statistic
    assert f.p_value == pytest.approx(expected.pvalue, rel=1e-6)


def test_a_side_with_no_values_gives_nan_and_no_flag() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 100, "c": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"x": [np.nan] * 50, "c": [None] * 50})
    report = ScipyEngine().detect(ref, cur, categorical=["c"])
    for f in report.features:
        assert np.isnan(f.statistic)
        assert np.isnan(f.p_value)
        assert not f.drifted
    assert report.drifted == []


def test_a_category_seen_only_in_current_data_is_drift() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"c": rng.choice(["a", "b", "c"], size=4000)})
    values = rng.choice(["a", "b", "c"], size=4000)
    values[:120] = "new"
    cur = pd.DataFrame({"c": values})
    (f,) = ScipyEngine().detect(ref, cur, categorical=["c"]).features
    assert f.drifted
    assert f.p_value < 1e-20


def test_categoricals_with_different_category_sets_align() -> None:
    ref = pd.DataFrame({"c": pd.Categorical(["a", "b"] * 500, categories=["a", "b", "unused"])})
    cur = pd.DataFrame({"c": pd.Categorical(["b", "a"] * 500, categories=["b", "a"])})
    (f,) = ScipyEngine().detect(ref, cur, categorical=["c"]).features
    assert f.p_value == pytest.approx(1.0)
    assert not f.drifted


def test_bool_columns_are_numeric_unless_listed() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"b": rng.random(3000) < 0.5})
    cur = pd.DataFrame({"b": rng.random(3000) < 0.6})
    numeric = ScipyEngine().detect(ref, cur).features[0]
    categorical = ScipyEngine().detect(ref, cur, categorical=["b"]).features[0]
    assert (numeric.kind, numeric.test) == ("numeric", "ks")
    assert (categorical.kind, categorical.test) == ("categorical", "chi2")
    assert numeric.drifted
    assert categorical.drifted


def test_threads_do_not_change_results(shifted_pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = shifted_pair
    serial = ScipyEngine(max_workers=1).detect(ref, cur, categorical=CATEGORICAL)
    threaded = ScipyEngine(max_workers=4).detect(ref, cur, categorical=CATEGORICAL)
    assert serial == threaded


def test_current_column_order_and_extra_columns_do_not_matter(
    shifted_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = shifted_pair
    shuffled = cur[list(reversed(cur.columns))].assign(extra=1.0)
    report = ScipyEngine().detect(ref, shuffled, categorical=CATEGORICAL)
    assert [f.feature for f in report.features] == list(ref.columns)
    assert report.drifted == SHIFTED


def test_a_column_missing_from_current_data_is_a_data_error(
    shifted_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = shifted_pair
    with pytest.raises(DataError, match="x3"):
        ScipyEngine().detect(ref, cur.drop(columns=["x3"]), categorical=CATEGORICAL)


def test_bad_inputs_are_reported_clearly(shifted_pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, cur = shifted_pair
    with pytest.raises(DataError, match="categorical"):
        ScipyEngine().detect(ref, cur, categorical=["nope"])
    with pytest.raises(DataError, match="c0"):  # text column not listed as categorical
        ScipyEngine().detect(ref, cur, categorical=["c1", "c2"])
    with pytest.raises(UsageError, match="alpha"):
        ScipyEngine().detect(ref, cur, categorical=CATEGORICAL, alpha=1.5)


def test_no_columns_gives_an_empty_report() -> None:
    report = ScipyEngine().detect(pd.DataFrame(index=range(3)), pd.DataFrame(index=range(3)))
    assert report.features == []
    assert report.drifted == []
    assert report.threshold == 0.05


# -- choosing an engine -----------------------------------------------------------------------


def test_get_engine() -> None:
    assert isinstance(get_engine("scipy"), ScipyEngine)
    installed = importlib.util.find_spec("alibi_detect") is not None
    if installed:
        assert isinstance(get_engine("alibi"), AlibiEngine)
    else:
        with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[alibi\]'"):
            get_engine("alibi")
    assert get_engine("auto").name == ("alibi" if installed else "scipy")
    with pytest.raises(UsageError, match="unknown drift engine"):
        get_engine("evidently")


def test_engines_satisfy_the_protocol() -> None:
    engines: list[DriftEngine] = [ScipyEngine(), AlibiEngine()]
    assert [e.name for e in engines] == ["scipy", "alibi"]


# -- the alibi engine -------------------------------------------------------------------------


@pytest.mark.alibi
def test_alibi_flags_the_same_features_as_scipy(
    alibi_detect_module: ModuleType, shifted_pair: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = shifted_pair
    alibi = AlibiEngine().detect(ref, cur, categorical=CATEGORICAL)
    scipy_report = ScipyEngine().detect(ref, cur, categorical=CATEGORICAL)
    assert alibi.engine == "alibi"
    assert alibi.threshold == scipy_report.threshold
    assert alibi.drifted == SHIFTED
    assert alibi.drifted == scipy_report.drifted
    # Same KS distances (alibi returns float32); chi2 on the same union of categories.
    for a, s in zip(alibi.features, scipy_report.features, strict=True):
        assert (a.feature, a.kind, a.test) == (s.feature, s.kind, s.test)
        assert a.statistic == pytest.approx(s.statistic, rel=1e-5)


@pytest.mark.alibi
def test_alibi_flags_nothing_on_one_distribution(
    alibi_detect_module: ModuleType, same_pair: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    assert AlibiEngine().detect(*same_pair, categorical=CATEGORICAL).drifted == []


@pytest.mark.alibi
def test_alibi_handles_missing_values_and_unseen_categories(
    alibi_detect_module: ModuleType, shifted_pair: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = (frame.copy() for frame in shifted_pair)
    ref.loc[::10, "x1"] = np.nan
    cur.loc[::7, "x0"] = np.nan
    cur.loc[::9, "c0"] = None
    cur.loc[:200, "c1"] = "purple"
    cur["x5"] = np.nan
    alibi = AlibiEngine().detect(ref, cur, categorical=CATEGORICAL)
    scipy_report = ScipyEngine().detect(ref, cur, categorical=CATEGORICAL)
    assert alibi.drifted == ["x1", "x4", "c1", "c2"]
    assert alibi.drifted == scipy_report.drifted
    x5 = alibi.features[NUMERIC.index("x5")]
    assert np.isnan(x5.p_value)
    assert not x5.drifted
    for a, s in zip(alibi.features[:5], scipy_report.features[:5], strict=True):
        assert a.statistic == pytest.approx(s.statistic, rel=1e-5)


@pytest.mark.alibi
def test_alibi_engine_without_alibi_detect_says_how_to_install(
    shifted_pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    if os.environ.get("PRODREADY_EXPECT_NO_ALIBI") != "1":
        pytest.skip("only where alibi-detect is known to be absent (PRODREADY_EXPECT_NO_ALIBI=1)")
    with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[alibi\]'"):
        AlibiEngine().detect(*shifted_pair, categorical=CATEGORICAL)


@pytest.mark.alibi
def test_alibi_encodes_pandas_categoricals_like_plain_values(
    alibi_detect_module: ModuleType, shifted_pair: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = shifted_pair
    as_category = {c: "category" for c in CATEGORICAL}
    plain = AlibiEngine().detect(ref, cur, categorical=CATEGORICAL)
    typed = AlibiEngine().detect(
        ref.astype(as_category), cur.astype(as_category), categorical=CATEGORICAL
    )
    assert typed == plain
