"""Tests of the bundled example system: its data generator, its model and ensure_example."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from scipy import stats

from prodready.example import MANIFEST_NAME, TRUSTED_TYPES, ensure_example
from prodready.example.data import (
    CATEGORICAL,
    DRIFTED,
    FEATURES,
    GENERATOR_VERSION,
    NUMERIC,
    TARGET,
    generate_applicants,
)
from prodready.example.train import roc_auc, train_model

N_ROWS = 5_000
FILES = (
    "reference.parquet",
    "current.parquet",
    "model.skops",
    "spec.yaml",
    "train.parquet",
    "model.skops.provenance.json",
)

EXPECTED_SPEC: dict[str, Any] = {
    "version": 2,
    "name": "Credit risk (bundled example)",
    "model": {"path": "model.skops", "format": "skops", "trusted": TRUSTED_TYPES},
    "data": {"reference": "reference.parquet", "current": "current.parquet", "target": "default"},
    "task": "binary",
    "traffic": {"current_rps": 5.0},
    "hooks": {"monitor": "prodready.example.monitor:monitor"},
    "monitoring": {"alpha": 0.05, "max_performance_drop": 0.05},
    "load": {
        "phase_s": 1.5,
        "warmup_s": 0.25,
        "min_requests": 10,
        "max_search_steps": 3,
        "p95_objective_ms": 200,
    },
    "lineage": {"training_data": "train.parquet"},
}
METADATA_KEYS = [
    "owner",
    "intended_use",
    "description",
    "limitations",
    "contact",
    "training_data",
    "out_of_scope_uses",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stamps(directory: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of every file: os.replace of a rewrite changes at least one."""
    return {
        name: ((directory / name).stat().st_ino, (directory / name).stat().st_mtime_ns)
        for name in (*FILES, MANIFEST_NAME)
    }


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small example built for the whole module; tests that alter it work on a copy."""
    directory = tmp_path_factory.mktemp("example")
    ensure_example(directory, n_rows=N_ROWS, seed=0, served=False)
    return directory


@pytest.fixture
def example_copy(example_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the built example (digests still match, so it is reusable)."""
    return Path(shutil.copytree(example_dir, tmp_path / "example"))


# --- the data generator -------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    for window in ("reference", "current"):
        first = generate_applicants(N_ROWS, seed=7, window=window)
        pd.testing.assert_frame_equal(first, generate_applicants(N_ROWS, seed=7, window=window))
    reference = generate_applicants(N_ROWS, seed=7, window="reference")
    other_seed = generate_applicants(N_ROWS, seed=8, window="reference")
    current = generate_applicants(N_ROWS, seed=7, window="current")
    # Independent samples: not even the (undrifted) grade-driven columns coincide.
    assert not reference["debt_to_income"].equals(other_seed["debt_to_income"])
    assert not reference["debt_to_income"].equals(current["debt_to_income"])


def test_columns_and_dtypes() -> None:
    frame = generate_applicants(N_ROWS, seed=0, window="reference")
    assert list(frame.columns) == [*FEATURES, TARGET]
    assert len(FEATURES) == 14
    assert len(CATEGORICAL) == 3
    assert set(NUMERIC) | set(CATEGORICAL) == set(FEATURES)
    for name in NUMERIC:
        assert pd.api.types.is_numeric_dtype(frame[name]), name
        assert not pd.api.types.is_bool_dtype(frame[name]), name
        assert np.isfinite(frame[name].to_numpy(dtype=float)).all(), name
    for name in CATEGORICAL:
        # object on pandas 2, the str dtype on pandas 3: plain strings either way
        assert pd.api.types.is_string_dtype(frame[name]) or frame[name].dtype == object, name
        assert all(isinstance(value, str) for value in frame[name]), name
    assert frame[TARGET].dtype == np.int64
    assert set(frame[TARGET].unique()) == {0, 1}
    assert set(frame["loan_term_months"].unique()) == {36, 60}
    assert set(frame["home_ownership"].unique()) == {"RENT", "MORTGAGE", "OWN"}
    assert set(frame["purpose"].unique()) == {
        "debt_consolidation",
        "credit_card",
        "home_improvement",
        "car",
        "medical",
        "small_business",
        "other",
    }
    assert frame["revolving_utilization"].between(0, 1).all()
    assert (frame["annual_income"] > 0).all()


def test_default_rate_in_range() -> None:
    reference = generate_applicants(20_000, seed=0, window="reference")[TARGET].mean()
    current = generate_applicants(20_000, seed=0, window="current")[TARGET].mean()
    assert 0.10 <= reference <= 0.20
    # the drift (lower income, higher utilization, more small-business loans) adds risk
    assert reference < current <= 0.25


def test_bonferroni_tests_flag_exactly_the_drifted_features() -> None:
    reference = generate_applicants(20_000, seed=0, window="reference")
    current = generate_applicants(20_000, seed=0, window="current")
    p_values: dict[str, float] = {}
    for name in FEATURES:
        if name in CATEGORICAL:
            counts = pd.concat(
                [reference[name].value_counts(), current[name].value_counts()], axis=1
            ).fillna(0)
            p_values[name] = float(stats.chi2_contingency(counts.to_numpy().T).pvalue)
        else:
            p_values[name] = float(stats.ks_2samp(reference[name], current[name]).pvalue)
    flagged = {name for name, p in p_values.items() if p < 0.05 / len(FEATURES)}
    assert flagged == set(DRIFTED), p_values


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="window"):
        generate_applicants(10, seed=0, window="future")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_rows"):
        ensure_example(Path("unused"), n_rows=10)


# --- the model ----------------------------------------------------------------------------


def test_model_is_gradient_boosting_and_fits_held_out_data() -> None:
    model = train_model(generate_applicants(3_000, seed=0, window="training"), seed=0)
    assert type(model[-1]).__name__ == "HistGradientBoostingClassifier"
    assert model[-1].max_iter == 100
    assert roc_auc(model, generate_applicants(3_000, seed=0, window="reference")) > 0.68


def test_training_window_is_an_independent_sample_of_the_reference_population() -> None:
    training = generate_applicants(20_000, seed=0, window="training")
    reference = generate_applicants(20_000, seed=0, window="reference")
    assert not training.equals(reference)
    for column in NUMERIC:
        assert stats.ks_2samp(training[column], reference[column]).pvalue > 0.001, column


# --- ensure_example -----------------------------------------------------------------------


def test_ensure_example_writes_files_and_manifest(example_dir: Path) -> None:
    for name in (*FILES, MANIFEST_NAME):
        assert (example_dir / name).is_file(), name
    assert not [path.name for path in example_dir.iterdir() if ".tmp" in path.name]
    manifest = json.loads((example_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["generator_version"] == GENERATOR_VERSION
    assert manifest["n_rows"] == N_ROWS
    assert manifest["seed"] == 0
    assert sorted(manifest["files"]) == sorted(FILES)
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(example_dir / name), name
    assert manifest["skops_untrusted_types"] == TRUSTED_TYPES
    assert manifest["metrics"]["roc_auc_reference"] > 0.68
    assert manifest["metrics"]["roc_auc_current"] > 0.68

    reference = pd.read_parquet(example_dir / "reference.parquet")
    current = pd.read_parquet(example_dir / "current.parquet")
    pd.testing.assert_frame_equal(
        reference, generate_applicants(N_ROWS, seed=0, window="reference")
    )
    pd.testing.assert_frame_equal(current, generate_applicants(N_ROWS, seed=0, window="current"))


def test_spec_yaml_has_the_agreed_structure(example_dir: Path) -> None:
    text = (example_dir / "spec.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Generated by prodready")
    spec = yaml.safe_load(text)
    assert list(spec) == [*EXPECTED_SPEC, "metadata"]
    assert {key: spec[key] for key in EXPECTED_SPEC} == EXPECTED_SPEC
    assert list(spec["metadata"]) == METADATA_KEYS
    assert all(isinstance(value, str) and value for value in spec["metadata"].values())
    assert spec["metadata"]["owner"] == "Credit Risk Analytics (example)"
    assert spec["metadata"]["contact"] == "risk-models@example.invalid"
    for relative in (spec["model"]["path"], spec["data"]["reference"], spec["data"]["current"]):
        assert (example_dir / relative).is_file()


def test_model_loads_with_the_listed_trust_only_and_predicts(example_dir: Path) -> None:
    path = example_dir / "model.skops"
    assert skops.io.get_untrusted_types(file=path) == TRUSTED_TYPES
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.load(path, trusted=None)
    model = skops.io.load(path, trusted=TRUSTED_TYPES)
    assert list(model.feature_names_in_) == FEATURES
    current = pd.read_parquet(example_dir / "current.parquet")
    probabilities = model.predict_proba(current[FEATURES])
    assert probabilities.shape == (N_ROWS, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert 0.05 < probabilities[:, 1].mean() < 0.35
    assert roc_auc(model, current) > 0.68


def test_second_call_reuses_everything(example_copy: Path) -> None:
    before = _stamps(example_copy)
    spec = ensure_example(example_copy, n_rows=N_ROWS, seed=0, served=False)
    assert spec == example_copy / "spec.yaml"
    assert _stamps(example_copy) == before


@pytest.mark.parametrize(("n_rows", "seed"), [(N_ROWS + 500, 0), (N_ROWS, 1)])
def test_other_arguments_regenerate(example_copy: Path, n_rows: int, seed: int) -> None:
    before = _stamps(example_copy)
    ensure_example(example_copy, n_rows=n_rows, seed=seed, served=False)
    after = _stamps(example_copy)
    assert all(after[name] != before[name] for name in (*FILES, MANIFEST_NAME))
    manifest = json.loads((example_copy / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert (manifest["n_rows"], manifest["seed"]) == (n_rows, seed)
    pd.testing.assert_frame_equal(
        pd.read_parquet(example_copy / "current.parquet"),
        generate_applicants(n_rows, seed=seed, window="current"),
    )


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _old_generator(path: Path) -> None:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["generator_version"] = GENERATOR_VERSION - 1
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("reference.parquet", _flip_a_byte),
        ("model.skops", lambda path: path.write_bytes(path.read_bytes()[:100])),
        ("spec.yaml", Path.unlink),
        (MANIFEST_NAME, Path.unlink),  # what an interrupted build leaves behind
        (MANIFEST_NAME, _old_generator),
    ],
    ids=["altered-data", "truncated-model", "missing-spec", "missing-manifest", "old-version"],
)
def test_damaged_or_stale_directory_is_rebuilt(
    example_dir: Path, example_copy: Path, name: str, damage: Callable[[Path], object]
) -> None:
    damage(example_copy / name)
    ensure_example(example_copy, n_rows=N_ROWS, seed=0, served=False)
    manifest = json.loads((example_copy / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["generator_version"] == GENERATOR_VERSION
    for file, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(example_copy / file), file
    # Everything is deterministic, so the rebuilt data is the original data.
    for file in ("reference.parquet", "current.parquet", "spec.yaml"):
        assert _sha256(example_copy / file) == _sha256(example_dir / file), file
    skops.io.load(example_copy / "model.skops", trusted=TRUSTED_TYPES)
