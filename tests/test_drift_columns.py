"""Drift column by column (prodready.drift.detect_columns): exact, and sketched when too large.

Read one column per side at a time from Parquet, the results must be those of the scipy engine
on the table loaded whole, field for field; with a tiny ``max_column_bytes`` the numeric columns
are tested on a mergeable sketch whose KS statistic stays within its stated bound of the exact
one, and says so. Data: the frames of tests/test_drift.py (6 numeric and 3 categorical columns,
x1, x4 and c2 shifted), with missing values, written as Parquet files and folders.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodready import datasets
from prodready._exceptions import DataError, UsageError
from prodready.datasets import open_parquet
from prodready.drift import (
    KS_EXACT_MAX_N,
    DriftReport,
    FeatureDrift,
    ScipyEngine,
    detect_columns,
)
from tests.test_drift import CATEGORICAL, NUMERIC, make_frame


def _same(a: FeatureDrift, b: FeatureDrift) -> bool:
    """Field for field, NaN equal to NaN (a computed NaN is not the same object as another)."""
    for name in ("feature", "kind", "test", "statistic", "p_value", "drifted", "psi"):
        x, y = getattr(a, name), getattr(b, name)
        if not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    w1, w2 = a.wasserstein, b.wasserstein
    return (w1 == w2 or (math.isnan(w1) and math.isnan(w2))) and a.significant == b.significant


def assert_same(exact: DriftReport, columns: DriftReport) -> None:
    assert (columns.engine, columns.threshold, columns.alpha) == (
        exact.engine,
        exact.threshold,
        exact.alpha,
    )
    for a, b in zip(exact.features, columns.features, strict=True):
        assert _same(a, b), (a, b)
        assert b.sketch is None


def with_gaps(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Missing values in a numeric and a categorical column, an int and a bool column."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out.loc[rng.random(len(out)) < 0.1, "x2"] = np.nan
    out.loc[rng.random(len(out)) < 0.05, "c1"] = None
    out["n"] = rng.integers(0, 20, len(out))
    out["b"] = rng.random(len(out)) < 0.3
    return out


def write_folder(frame: pd.DataFrame, folder: Path, parts: int) -> Path:
    folder.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i:02d}.parquet", row_group_size=997)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Reference (a folder of 3 files) and current (one file), above the exact KS range."""
    root = tmp_path_factory.mktemp("drift-columns")
    rows = KS_EXACT_MAX_N + 2_000  # the asymptotic p-value and, with numpy < 2, int keys
    ref = with_gaps(make_frame(rows, 1), 1)
    cur = with_gaps(make_frame(rows - 1_500, 2, shifted=True), 2)
    write_folder(ref, root / "ref", 3)
    cur.to_parquet(root / "cur.parquet", row_group_size=1_000)
    small_ref, small_cur = ref.iloc[:3_000], cur.iloc[:2_500]
    write_folder(small_ref, root / "small-ref", 2)
    small_cur.to_parquet(root / "small-cur.parquet")
    return {"root": root, "ref": ref, "cur": cur}


COLUMNS = [*NUMERIC, *CATEGORICAL, "n", "b"]


def test_column_by_column_equals_the_whole_table(data: dict[str, object]) -> None:
    root = data["root"]
    assert isinstance(root, Path)
    for ref_name, cur_name in (("ref", "cur.parquet"), ("small-ref", "small-cur.parquet")):
        # The whole table as load_table reads it (pandas), through the existing engine.
        ref_whole = pd.concat(
            [pd.read_parquet(p) for p in sorted((root / ref_name).iterdir())], ignore_index=True
        )[COLUMNS]
        cur_whole = pd.read_parquet(root / cur_name)[COLUMNS]
        exact = ScipyEngine().detect(ref_whole, cur_whole, categorical=CATEGORICAL)
        ref, cur = open_parquet(root / ref_name), open_parquet(root / cur_name)
        for workers in (1, 2):
            report = detect_columns(
                ref, cur, columns=COLUMNS, categorical=CATEGORICAL, max_workers=workers
            )
            assert_same(exact, report)
        # One side in memory, the other from Parquet: the same again.
        assert_same(exact, detect_columns(ref_whole, cur, columns=COLUMNS, categorical=CATEGORICAL))
    assert set(exact.significant) >= {"x1", "x4"}


def test_categories_counted_in_small_batches_are_exact(
    data: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = data["root"]
    assert isinstance(root, Path) and isinstance(data["ref"], pd.DataFrame)
    monkeypatch.setattr(datasets, "_BATCH_ROWS", 700)  # many batches per row group and file
    ref, cur = open_parquet(root / "ref"), open_parquet(root / "cur.parquet")
    report = detect_columns(ref, cur, columns=[*CATEGORICAL, "x2"], categorical=CATEGORICAL)
    whole = ScipyEngine().detect(
        data["ref"][[*CATEGORICAL, "x2"]].reset_index(drop=True),
        pd.read_parquet(root / "cur.parquet")[[*CATEGORICAL, "x2"]],
        categorical=CATEGORICAL,
    )
    assert_same(whole, report)


def test_a_column_too_large_is_sketched_within_its_stated_bound(data: dict[str, object]) -> None:
    root = data["root"]
    assert isinstance(root, Path)
    ref, cur = open_parquet(root / "ref"), open_parquet(root / "cur.parquet")
    exact = detect_columns(ref, cur, columns=COLUMNS, categorical=CATEGORICAL)
    budget = 8 * 3_000  # about 3,000 rows per side kept
    sketched = detect_columns(
        ref, cur, columns=COLUMNS, categorical=CATEGORICAL, max_column_bytes=budget, seed=7
    )
    for e, s in zip(exact.features, sketched.features, strict=True):
        if s.kind == "categorical":
            assert s.sketch is None and _same(e, s)  # counts need no sketch: exact
            continue
        assert s.sketch is not None
        assert abs(s.statistic - e.statistic) <= s.sketch.ks_error_bound
        assert 2_500 < s.sketch.reference_rows < 3_500 and s.sketch.reference_total == ref.num_rows
        assert s.sketch.confidence == pytest.approx(1 - 2e-3)
        assert "from a sketch of" in s.sketch.describe()
        assert f"|KS error| <= {s.sketch.ks_error_bound:.4f}" in s.sketch.describe()
    # The shifted numeric features still stand out on the sketch.
    assert {"x1", "x4"} <= set(sketched.significant)
    # Deterministic: the same seed keeps the same rows.
    again = detect_columns(
        ref, cur, columns=["x1"], max_column_bytes=budget, seed=7, max_workers=1
    ).features[0]
    first = next(f for f in sketched.features if f.feature == "x1")
    assert (again.statistic, again.sketch) == (first.statistic, first.sketch)


def test_the_sketch_is_mergeable_over_files_and_the_bound_holds_over_seeds(
    data: dict[str, object], tmp_path: Path
) -> None:
    """One file or many, the sketch keeps the same rows; the bound holds for every seed."""
    ref_frame = data["ref"]
    assert isinstance(ref_frame, pd.DataFrame) and isinstance(data["root"], Path)
    ref_frame.to_parquet(tmp_path / "one.parquet", row_group_size=5_000)
    folder, single = open_parquet(data["root"] / "ref"), open_parquet(tmp_path / "one.parquet")
    cur = open_parquet(data["root"] / "cur.parquet")
    exact = detect_columns(folder, cur, columns=["x0", "x1"])
    for seed in range(5):
        a = detect_columns(folder, cur, columns=["x0", "x1"], max_column_bytes=16_000, seed=seed)
        b = detect_columns(single, cur, columns=["x0", "x1"], max_column_bytes=16_000, seed=seed)
        for e, fa, fb in zip(exact.features, a.features, b.features, strict=True):
            assert (fa.statistic, fa.sketch) == (fb.statistic, fb.sketch)
            assert fa.sketch is not None
            assert abs(fa.statistic - e.statistic) <= fa.sketch.ks_error_bound


def test_only_the_side_too_large_is_sketched(data: dict[str, object]) -> None:
    cur = data["cur"]
    assert isinstance(cur, pd.DataFrame) and isinstance(data["root"], Path)
    ref = open_parquet(data["root"] / "ref")
    small = cur.iloc[:1_000][["x1"]]
    feature = detect_columns(ref, small, columns=["x1"], max_column_bytes=8 * 2_000).features[0]
    assert feature.sketch is not None
    assert feature.sketch.current_rows == feature.sketch.current_total == 1_000
    assert feature.sketch.confidence == pytest.approx(1 - 1e-3)  # one side sketched
    assert "current rows" not in feature.sketch.describe()


def test_bad_arguments_and_data_get_one_line(data: dict[str, object]) -> None:
    assert isinstance(data["root"], Path)
    ref, cur = open_parquet(data["root"] / "ref"), open_parquet(data["root"] / "cur.parquet")
    cases: list[tuple[type[Exception], dict[str, object], str]] = [
        (UsageError, {"max_column_bytes": 10}, "max_column_bytes must be a whole number >= 1024"),
        (UsageError, {"sketch_delta": 0.9}, "sketch_delta must be a number between 0 and 0.5"),
        (UsageError, {"max_workers": 0}, "max_workers must be at least 1"),
        (UsageError, {"alpha": 2.0}, "alpha must be a number strictly between 0 and 1"),
        (DataError, {"columns": ["x0", "nope"]}, "lacks column(s) to test: 'nope'"),
        (DataError, {"columns": ["c0"]}, "column 'c0' of the reference data has type"),
        (DataError, {"columns": ["x0"], "categorical": ["c0"]}, "categorical column(s) not in"),
    ]
    for error, kwargs, text in cases:
        with pytest.raises(error) as info:
            detect_columns(ref, cur, **kwargs)  # type: ignore[arg-type]
        assert text in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="the current data lacks column"):
        detect_columns(ref, pd.DataFrame({"x0": [1.0]}), columns=["x0", "x1"])
