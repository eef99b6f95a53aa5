"""Shared fixtures: small, deterministic systems of every kind prodready must handle.

Sized for speed (a few thousand rows); the example system at full size is exercised by the
benchmarks, not by the tests.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

NUMERIC = ["income", "debt_ratio", "age", "balance"]
CATEGORICAL = ["region"]


def make_frame(n: int, seed: int, *, shift: bool = False, classes: int = 2) -> pd.DataFrame:
    """Applicant-like data; with ``shift`` income falls and region mix changes (known drift)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8 - (0.3 if shift else 0.0), 0.4, n)
    debt = rng.beta(2, 5, n)
    age = rng.integers(21, 75, n).astype(float)
    balance = rng.normal(5000, 1500, n)
    p_region = [0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]
    region = rng.choice(["north", "south", "west"], size=n, p=p_region)
    score = (
        -1.5 * (np.log(income) - 10.8)
        + 3.0 * debt
        - 0.02 * (age - 45)
        + 0.3 * (region == "west")
        + rng.logistic(size=n)
    )
    if classes == 2:
        target: Any = (score > 1.2).astype(int)
    elif classes == 3:
        target = np.digitize(score, [0.6, 1.6])
    else:  # regression
        target = score
    return pd.DataFrame(
        {
            "income": income,
            "debt_ratio": debt,
            "age": age,
            "balance": balance,
            "region": region,
            "target": target,
        }
    )


def pipeline(classifier: Any, *, scale: bool = False) -> Pipeline:
    return Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                        ("numeric", StandardScaler() if scale else "passthrough", NUMERIC),
                    ]
                ),
            ),
            ("model", classifier),
        ]
    )


@pytest.fixture(scope="session")
def binary_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(3000, 1), make_frame(3000, 2, shift=True)


# Models are trained on their own sample: the reference data of a system is held-out data
# (as in production monitoring), so reference scores are not in-sample.


@pytest.fixture(scope="session")
def binary_model() -> Pipeline:
    ref = make_frame(3000, 11)
    model = pipeline(HistGradientBoostingClassifier(max_iter=30, random_state=0))
    return model.fit(ref[NUMERIC + CATEGORICAL], ref["target"])


@pytest.fixture(scope="session")
def multiclass_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(2000, 3, classes=3), make_frame(2000, 4, classes=3)


@pytest.fixture(scope="session")
def multiclass_model() -> Pipeline:
    ref = make_frame(2000, 13, classes=3)
    model = pipeline(LogisticRegression(max_iter=1000), scale=True)
    return model.fit(ref[NUMERIC + CATEGORICAL], ref["target"])


@pytest.fixture(scope="session")
def regression_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    ref, cur = make_frame(2000, 5, classes=0), make_frame(2000, 6, classes=0)
    return ref.drop(columns="region"), cur.drop(columns="region")


@pytest.fixture(scope="session")
def regression_model() -> GradientBoostingRegressor:
    ref = make_frame(2000, 15, classes=0)
    # A bare estimator (no Pipeline), fitted on a DataFrame so feature names are known.
    return GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(
        ref[NUMERIC], ref["target"]
    )


@pytest.fixture
def spec_dir(
    tmp_path: Path, binary_data: tuple[pd.DataFrame, pd.DataFrame], binary_model: Pipeline
) -> Path:
    """A folder with model.skops, reference.parquet, current.csv and a valid spec.yaml."""
    import skops.io as sio

    ref, cur = binary_data
    ref.to_parquet(tmp_path / "reference.parquet")
    cur.to_csv(tmp_path / "current.csv", index=False)
    sio.dump(binary_model, tmp_path / "model.skops")
    (tmp_path / "spec.yaml").write_text(VALID_SPEC)
    return tmp_path


VALID_SPEC = """\
version: 2
name: test lending model
model:
  path: model.skops
  # skops loads no code; this one type outside its default list was reviewed and trusted.
  trusted: [sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor]
data:
  reference: reference.parquet
  current: current.csv
  target: target
task: binary
policy:
  probe_timeout_s: 300
monitoring:
  alpha: 0.05
explainability:
  sample: 200
metadata:
  owner: Test team
  intended_use: tests
"""


@pytest.fixture
def alibi_detect_module() -> ModuleType:
    """alibi_detect, imported; skips without it unless PRODREADY_REQUIRE_ALIBI=1 (then fails)."""
    try:
        module = importlib.import_module("alibi_detect")
    except ImportError as exc:
        if os.environ.get("PRODREADY_REQUIRE_ALIBI") == "1":
            pytest.fail(f"alibi-detect must be importable here (PRODREADY_REQUIRE_ALIBI=1): {exc}")
        pytest.skip("alibi-detect is not installed (the prodready[alibi] extra)")
    return module


def require_mlflow() -> ModuleType:
    """mlflow, imported; skips without it unless PRODREADY_REQUIRE_MLFLOW=1 (then fails).

    Call it at the top of a test module that needs a real MLflow (a served model, a registry):
    ``mlflow = require_mlflow()``.
    """
    try:
        return importlib.import_module("mlflow")
    except ImportError as exc:
        if os.environ.get("PRODREADY_REQUIRE_MLFLOW") == "1":
            pytest.fail(
                f"mlflow must be importable here (PRODREADY_REQUIRE_MLFLOW=1): {exc}",
                pytrace=False,
            )
        pytest.skip(
            "mlflow is not installed (the prodready[mlflow] extra)", allow_module_level=True
        )


#: Test modules that exercise neither numpy/pandas behaviour nor an optional extra (the load
#: generator, keys, signatures, the ledger and hash chain, file handling, hostile YAML, signal
#: handling): what differs between the two test environments cannot change their outcome, so
#: the core environment runs them and ``make test-full`` (PRODREADY_ENV_INDEPENDENT=skip)
#: leaves them out instead of running them a second time.
ENV_INDEPENDENT = (
    "tests/load/",
    "tests/attest/test_keys.py",
    "tests/attest/test_dsse.py",
    "tests/attest/test_ledger.py",
    "tests/attest/test_sign.py",
    "tests/attest/test_openssl_route.py",
    "tests/attest/test_approval.py",  # approval records: signing, files, the approve command
    # The runner and scoring with stub probes (time limits, subprocess isolation, plugins,
    # a script without a main guard): processes and threads, not numerics; the built-in
    # probes still run isolated in both environments in their own tests (tests/probes/).
    "tests/test_assessment.py",
    "tests/test_chain.py",
    "tests/test_files.py",
    "tests/test_spec_hostile.py",
    "tests/report/test_run_hostile.py",
    # Dask clusters and sweeps of headless runs: the runs' own numerics are tested elsewhere.
    "tests/fleet/",
)
#: Test modules whose outcome depends on having the machine's cores to themselves: they measure
#: throughput and latency (the load generator, Q1 at 10x, capacity searches) or count failed
#: requests while a served model switches versions under traffic. ``make test`` runs the two
#: environments' suites at the same time without them (PRODREADY_TIMING=skip), then these
#: alone (PRODREADY_TIMING=only), so that nothing else competes for what they measure.
TIMING = (
    "tests/load/",
    "tests/probes/test_load.py",
    "tests/probes/test_load_mlflow.py",
    "tests/example/test_served.py",
    "tests/guard/test_follow.py",
    "tests/probes/test_rollback_served.py",
)
_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    env_independent = os.environ.get("PRODREADY_ENV_INDEPENDENT") == "skip"
    timing = os.environ.get("PRODREADY_TIMING", "")
    if timing not in ("", "skip", "only"):
        raise pytest.UsageError(f"PRODREADY_TIMING is {timing!r}: expected skip or only")
    keep: list[pytest.Item] = []
    skipped: list[pytest.Item] = []
    for item in items:
        where = item.path.resolve().relative_to(_ROOT).as_posix()
        timed = where.startswith(TIMING)
        drop = (
            (env_independent and where.startswith(ENV_INDEPENDENT))
            or (timing == "skip" and timed)
            or (timing == "only" and not timed)
        )
        (skipped if drop else keep).append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = keep
